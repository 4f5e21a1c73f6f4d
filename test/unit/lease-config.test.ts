import { readFile } from "node:fs/promises";
import t, { type Test } from "tap";
import { stringify } from "yaml";
import { loadFleetText } from "../../control-plane/src/fleet/load.ts";
import type { FleetLoadResult } from "../../control-plane/src/fleet/verify.ts";
import { fleetTlsReader, fleetTree } from "../fixtures/invalid-fleets.ts";
import { refusedWith } from "../helpers/refused.ts";

/**
 * The fleet file's `leases` section, through the loader: defaults, resolution, and each rule
 * with its field path, rule id and message.
 */

// biome-ignore lint/suspicious/noExplicitAny: tests change free-form config trees.
type Tree = any;

const load = (change: (f: Tree) => void): Promise<FleetLoadResult> => {
  const tree = fleetTree();
  change(tree);
  return loadFleetText(stringify(tree), fleetTlsReader);
};

function mustLoad(r: FleetLoadResult) {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.issues)}`);
  return r;
}

/** The issue at `path` under `rule`, whose message must include every one of `words`. */
async function refused(
  t: Test,
  change: (f: Tree) => void,
  path: string,
  rule: string,
  words: string[] = [],
) {
  const issues = refusedWith(t, await load(change), { expectPath: path, expectRule: rule });
  const issue = issues?.find((i) => i.path === path && i.rule === rule);
  for (const w of words) t.match(issue?.message ?? "", w, `message says ${JSON.stringify(w)}`);
}

t.test("no leases section: no leases", async (t) => {
  const { fleet } = mustLoad(await load(() => {}));
  t.equal(fleet.leases, undefined);
  t.notOk("leases" in fleet, "the key is absent, not undefined");
});

t.test("defaults: ttlMs 15000, no endpoint", async (t) => {
  const { fleet, warnings } = mustLoad(
    await load((f) => {
      f.leases = { table: "swanpair-leases" };
    }),
  );
  t.same(fleet.leases, { table: "swanpair-leases", ttlMs: 15_000 });
  t.same(warnings, []);
});

t.test("every field, resolved", async (t) => {
  const { fleet } = mustLoad(
    await load((f) => {
      f.leases = { table: "prod_East.leases-1", ttlMs: 2000, endpoint: "http://127.0.0.1:5000" };
      f.failover.intervalMs = 600;
    }),
  );
  t.same(fleet.leases, {
    table: "prod_East.leases-1",
    ttlMs: 2000,
    endpoint: "http://127.0.0.1:5000",
  });
});

t.test("ttlMs must be at least 3 × failover.intervalMs", async (t) => {
  const at = (ttlMs: number, intervalMs: number | undefined) => (f: Tree) => {
    f.leases = { table: "leases", ttlMs };
    if (intervalMs === undefined) delete f.failover;
    else f.failover = { intervalMs };
  };
  mustLoad(await load(at(3000, 1000)));
  mustLoad(await load(at(2000, undefined)));
  await refused(t, at(2999, 1000), "leases.ttlMs", "lease-ttl", [
    "2999 ms is less than 3 × failover.intervalMs (3 × 1000 = 3000 ms)",
    "raise leases.ttlMs to at least 3000 or lower failover.intervalMs",
  ]);
  // The default ttl against a slow controller.
  await refused(
    t,
    (f) => {
      f.leases = { table: "leases" };
      f.failover = { intervalMs: 6000 };
    },
    "leases.ttlMs",
    "lease-ttl",
    ["15000 ms is less than 3 × failover.intervalMs (3 × 6000 = 18000 ms)"],
  );
});

t.test("ttlMs range and type", async (t) => {
  const ttl = (ttlMs: unknown) => (f: Tree) => {
    f.leases = { table: "leases", ttlMs };
  };
  await refused(t, ttl(1999), "leases.ttlMs", "min", ["at least 2000"]);
  await refused(t, ttl(300_001), "leases.ttlMs", "max", ["at most 300000"]);
  await refused(t, ttl(2500.5), "leases.ttlMs", "type", ["whole number"]);
  await refused(t, ttl("15s"), "leases.ttlMs", "type", ["a number"]);
  mustLoad(await load(ttl(300_000)));
});

t.test("table: DynamoDB's name rule", async (t) => {
  const table = (name: unknown) => (f: Tree) => {
    f.leases = { table: name };
  };
  await refused(t, table("ab"), "leases.table", "min", ["at least 3 characters"]);
  await refused(t, table("a".repeat(256)), "leases.table", "max", ["at most 255 characters"]);
  await refused(t, table("swan pair"), "leases.table", "format", [
    '"swan pair" is not a DynamoDB table name',
    "letters, digits and _ . -",
  ]);
  await refused(t, table("leases/prod"), "leases.table", "format");
  await refused(t, table("tablé"), "leases.table", "format");
  await refused(t, (f) => (f.leases = {}), "leases.table", "required");
  mustLoad(await load(table("a".repeat(255))));
  mustLoad(await load(table("A1_.-")));
});

t.test("endpoint: http or https URL; unknown keys refused", async (t) => {
  const endpoint = (url: string) => (f: Tree) => {
    f.leases = { table: "leases", endpoint: url };
  };
  await refused(t, endpoint("ftp://127.0.0.1:5000"), "leases.endpoint", "format", [
    "http:// or https:// URL",
  ]);
  await refused(t, endpoint("127.0.0.1:5000"), "leases.endpoint", "format");
  mustLoad(await load(endpoint("https://dynamodb.us-east-1.amazonaws.com")));
  await refused(
    t,
    (f) => (f.leases = { table: "leases", ttl: 15000 }),
    "leases.ttl",
    "unknown-key",
    ['did you mean "ttlMs"'],
  );
});

t.test("the JSON Schema refuses the table names the loader refuses", async (t) => {
  const schema = JSON.parse(
    await readFile(new URL("../../docs/fleet-config.schema.json", import.meta.url), "utf8"),
  );
  const table = schema.properties.leases.properties.table;
  const ok = (name: string) =>
    new RegExp(table.pattern, "u").test(name) &&
    name.length >= table.minLength &&
    name.length <= table.maxLength;
  for (const name of ["leases", "A1_.-", "a".repeat(255)]) {
    t.ok(ok(name), `accepts ${name.slice(0, 20)}`);
    mustLoad(await load((f) => (f.leases = { table: name })));
  }
  for (const name of ["ab", "swan pair", "tablé", "a/b", "a".repeat(256)]) {
    t.notOk(ok(name), `refuses ${name.slice(0, 20)}`);
    t.notOk((await load((f) => (f.leases = { table: name }))).ok);
  }
  t.equal(schema.properties.leases.properties.ttlMs.default, 15_000);
});
