import { chmod, copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { stringify } from "yaml";
import { cidrsOverlap, parseCidr } from "../../common/cidr.ts";
import { formatLoadResult } from "../../common/yaml-config.ts";
import { loadFleetFile, loadFleetText } from "../../control-plane/src/fleet/load.ts";
import { managedRoutes, routesByTable } from "../../control-plane/src/fleet/routes.ts";
import { parseAgentUrl } from "../../control-plane/src/fleet/schema.ts";
import type { Fleet } from "../../control-plane/src/fleet/types.ts";
import type { FleetLoadResult } from "../../control-plane/src/fleet/verify.ts";
import { renderFleetSchema } from "../../scripts/gen-schema.ts";
import {
  fleetTlsReader,
  fleetTree,
  INVALID_FLEETS,
  materializeFleet,
  VALID_FLEET,
} from "../fixtures/invalid-fleets.ts";
import { refusedWith } from "../helpers/refused.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const scratch = () => tempDir(t, "swp-fleet-");

/** Every TLS file is good PEM, mode 0600; load.ts's own reading is tested on disk below. */
const tlsOk = fleetTlsReader;

function mustLoad(r: FleetLoadResult) {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.issues)}`);
  return r;
}

// biome-ignore lint/suspicious/noExplicitAny: tests change free-form config trees.
type Tree = any;

const load = (change: (f: Tree) => void) => {
  const tree = fleetTree();
  change(tree);
  return loadFleetText(stringify(tree), tlsOk);
};

t.test("the documented example loads from disk, fully resolved", async (t) => {
  const dir = await scratch();
  const { fleet, warnings } = mustLoad(
    await loadFleetFile(await materializeFleet({ yaml: VALID_FLEET }, dir)),
  );
  t.same(warnings, []);
  const tls = {
    ca: join(dir, "tls", "ca.pem"),
    cert: join(dir, "tls", "cert.pem"),
    key: join(dir, "tls", "key.pem"),
  };
  const expected: Fleet = {
    region: "us-east-1",
    endpoint: "http://127.0.0.1:5000",
    tag: { key: "swanpair:fleet", value: "default" },
    vpcs: [
      {
        name: "vpc-a",
        id: "vpc-0123",
        cidrs: ["10.1.0.0/16"],
        routeTables: ["rtb-0a1", "rtb-0a2"],
      },
      { name: "vpc-b", id: "vpc-0456", cidrs: ["10.2.0.0/16"], routeTables: ["rtb-0b1"] },
    ],
    appliances: [
      {
        name: "a1",
        vpc: "vpc-a",
        instanceId: "i-0a1",
        eni: "eni-0a1",
        agent: { kind: "unix", path: "/run/swanpair/a1/agent.sock" },
      },
      {
        name: "a2",
        vpc: "vpc-a",
        instanceId: "i-0a2",
        eni: "eni-0a2",
        agent: { kind: "https", url: "https://10.1.1.10:7443", tls },
      },
      {
        name: "b1",
        vpc: "vpc-b",
        instanceId: "i-0b1",
        eni: "eni-0b1",
        agent: { kind: "unix", path: "/run/swanpair/b1/agent.sock" },
      },
      {
        name: "b2",
        vpc: "vpc-b",
        instanceId: "i-0b2",
        eni: "eni-0b2",
        agent: { kind: "https", url: "https://10.2.1.10:7443", tls },
      },
    ],
    pairs: [
      { name: "pair-a", vpc: "vpc-a", members: ["a1", "a2"], preferred: "a1" },
      { name: "pair-b", vpc: "vpc-b", members: ["b1", "b2"], preferred: "b1" },
    ],
    connections: [{ name: "a-b", kind: "site-to-site", between: ["pair-a", "pair-b"] }],
    failover: { intervalMs: 500, fall: 3, rise: 3, holdDownMs: 30000, preempt: false },
  };
  t.strictSame(fleet, expected, "unset optionals (az) stay absent");
});

t.test("the example in docs/fleet-config.md loads, with the routes the page lists", async (t) => {
  const page = await readFile(new URL("../../docs/fleet-config.md", import.meta.url), "utf8");
  const yaml = /```yaml\n([\s\S]*?)```/.exec(page)?.[1] ?? "";
  const { fleet, warnings } = mustLoad(await loadFleetText(yaml, tlsOk));
  t.same(warnings, []);
  t.same(fleet.tag, { key: "swanpair:fleet", value: "prod-east" });
  t.equal(fleet.pairs[1]?.preferred, "b1");
  const listed = [...page.matchAll(/^\| `(rtb-\w+)` \| `([\d./]+)` \| `([\w-]+)` \|$/gm)];
  t.same(
    managedRoutes(fleet).map((r) => [r.routeTable, r.destination, r.pair]),
    listed.map((m) => m.slice(1)),
  );
});

t.test("defaults: tag, failover, preferred, connection kind; no endpoint", async (t) => {
  const { fleet } = mustLoad(
    await load((f) => {
      delete f.endpoint;
      delete f.failover;
      for (const p of f.pairs) delete p.preferred;
      f.pairs[1].members = ["b2", "b1"];
    }),
  );
  t.notOk("endpoint" in fleet);
  t.same(fleet.tag, { key: "swanpair:fleet", value: "default" });
  t.same(fleet.failover, { intervalMs: 500, fall: 3, rise: 3, holdDownMs: 30000, preempt: false });
  t.same(
    fleet.pairs.map((p) => p.preferred),
    ["a1", "b2"],
    "the first member",
  );
  t.equal(fleet.connections[0]?.kind, "site-to-site");

  const tagged = mustLoad(await load((f) => (f.tag = { value: "prod-east" }))).fleet;
  t.same(tagged.tag, { key: "swanpair:fleet", value: "prod-east" }, "the key defaults alone");
});

t.test("CIDRs come out canonical", async (t) => {
  const { fleet } = mustLoad(await load((f) => (f.vpcs[1].cidrs = ["2001:db8:2:0::/64"])));
  t.same(fleet.vpcs[1]?.cidrs, ["2001:db8:2::/64"]);
});

t.test("an IPv6 zone id in a CIDR is refused at its field path, not thrown", async (t) => {
  const r = await load((f) => (f.vpcs[1].cidrs = ["2001:db8:2::/64", "fe80::%eth0/64"]));
  t.match(r, {
    ok: false,
    issues: [
      {
        path: "vpcs[1].cidrs[1]",
        rule: "format",
        message: /^invalid CIDR "fe80::%eth0\/64": .* has a zone id \("%eth0"\)/,
      },
    ],
  });
});

for (const fixture of INVALID_FLEETS) {
  t.test(`invalid: ${fixture.name}`, async (t) => {
    refusedWith(t, await loadFleetFile(await materializeFleet(fixture, await scratch())), fixture);
  });
}

t.test("the fixture table covers enough distinct failures", async (t) => {
  t.equal(new Set(INVALID_FLEETS.map((f) => f.name)).size, INVALID_FLEETS.length, "unique");
  t.ok(INVALID_FLEETS.length >= 15);
  const rules = new Set(INVALID_FLEETS.map((f) => f.expectRule));
  for (const rule of [
    "unknown-ref",
    "duplicate",
    "overlap",
    "pair-size",
    "pair-members",
    "preferred",
    "connection",
    "tls",
    "tls-file",
    "az",
    "path-length",
    "yaml",
    "duplicate-key",
    "unknown-key",
    "format",
  ]) {
    t.ok(rules.has(rule), rule);
  }
});

t.test("messages name the problem and what exists", async (t) => {
  const cases: [(f: Tree) => void, string, RegExp][] = [
    [(f) => (f.pairs[0].members[1] = "a3"), "pairs[0].members[1]", /"a3"; defined: a1, a2, b1/],
    [(f) => (f.appliances[0].vpc = "vpc-c"), "appliances[0].vpc", /defined: vpc-a, vpc-b$/],
    [(f) => (f.pairs[0].membres = []), "pairs[0].membres", /did you mean "members"\?/],
    [
      (f) => (f.vpcs[1].cidrs = ["10.1.2.0/24"]),
      "vpcs[1].cidrs[0]",
      /10\.1\.2\.0\/24 overlaps vpcs\[0\]\.cidrs\[0\] 10\.1\.0\.0\/16 of vpc-a/,
    ],
    [
      (f) => (f.appliances[3].eni = "eni-0a1"),
      "appliances[3].eni",
      /ENI "eni-0a1" is already listed at appliances\[0\]\.eni/,
    ],
    [(f) => (f.vpcs[0].cidrs = ["10.1.0.1/16"]), "vpcs[0].cidrs[0]", /did you mean 10\.1\.0\.0/],
    [(f) => (f.appliances[1].agent = "ftp://x:1"), "appliances[1].agent", /scheme "ftp"/],
    [(f) => delete f.tls, "appliances[3].agent", /https:\/\/10\.2\.1\.10:7443 .* mutual TLS/],
    [(f) => (f.pairs[0].preferred = "b1"), "pairs[0].preferred", /not a member .*\(a1, a2\)/],
    [(f) => (f.region = "US-EAST-1"), "region", /AWS region such as us-east-1/],
  ];
  for (const [change, path, message] of cases) {
    const r = await load(change);
    t.equal(r.ok, false, path);
    if (!r.ok) {
      t.ok(
        r.issues.some((i) => i.path === path && message.test(i.message)),
        `${path} ${message}`,
        { issues: r.issues },
      );
    }
  }
});

t.test("an unknown VPC is reported on its appliance only, not again on its pair", async (t) => {
  const r = await load((f) => (f.appliances[2].vpc = "vpc-c"));
  t.match(r, { ok: false, issues: [{ path: "appliances[2].vpc", rule: "unknown-ref" }] });
  t.equal(r.ok ? 0 : r.issues.length, 1, { issues: r.ok ? [] : r.issues });
});

t.test("the same zone for both members is a warning, not an error", async (t) => {
  const same = mustLoad(
    await load((f) => {
      f.appliances[0].az = "us-east-1a";
      f.appliances[1].az = "us-east-1a";
      f.appliances[2].az = "us-east-1a";
      f.appliances[3].az = "us-east-1b";
    }),
  );
  t.same(
    same.warnings.map((w) => [w.path, w.rule]),
    [["pairs[0].members[1]", "same-az"]],
  );
  t.equal(same.fleet.appliances[0]?.az, "us-east-1a");
  const localZone = await load((f) => (f.appliances[0].az = "us-east-1-bos-1a"));
  t.same(mustLoad(localZone).warnings, [], "a local zone of the region is accepted");
  const r = await load((f) => (f.appliances[0].az = "us-east-10a"));
  t.match(r, { ok: false, issues: [{ path: "appliances[0].az", rule: "az" }] });
});

t.test("an appliance in no pair and a pair in no connection draw warnings", async (t) => {
  const r = mustLoad(
    await load((f) => {
      f.appliances.push({
        name: "a3",
        vpc: "vpc-a",
        instanceId: "i-0a3",
        eni: "eni-0a3",
        agent: "unix:///run/swanpair/a3/agent.sock",
      });
      f.connections = [];
    }),
  );
  t.same(
    r.warnings.map((w) => [w.path, w.rule]),
    [
      ["appliances[4]", "unused"],
      ["pairs[0]", "unused"],
      ["pairs[1]", "unused"],
    ],
  );
  t.same(managedRoutes(r.fleet), [], "no connection, no routes");
});

t.test("agent URLs", async (t) => {
  const table: [string, ReturnType<typeof parseAgentUrl>["ok"], unknown?][] = [
    ["unix:///run/a.sock", true, { kind: "unix", path: "/run/a.sock" }],
    ["https://10.1.1.10:7443", true, { kind: "https", url: "https://10.1.1.10:7443" }],
    ["https://Agent.Example:7443/", true, { kind: "https", url: "https://agent.example:7443" }],
    ["https://[2001:db8::1]:7443", true, { kind: "https", url: "https://[2001:db8::1]:7443" }],
    ["unix://run/a.sock", false],
    ["unix:/run/a.sock", false],
    ["http://10.1.1.10:7443", false],
    ["https://10.1.1.10", false],
    ["https://10.1.1.10:0", false],
    ["https://10.1.1.10:70000", false],
    ["https://user@10.1.1.10:7443", false],
    ["https://10.1.1.10:7443?x=1", false],
    ["10.1.1.10:7443", false],
    ["/run/a.sock", false],
  ];
  for (const [text, ok, agent] of table) {
    const r = parseAgentUrl(text);
    t.equal(r.ok, ok, text);
    if (r.ok) t.same(r.agent, agent, text);
  }
});

t.test(
  "TLS files are checked on disk as the agent's are: there, private, PEM, matching",
  async (t) => {
    const dir = await scratch();
    const tls = join(dir, "tls");
    const fleet = await materializeFleet({ yaml: VALID_FLEET }, dir);
    mustLoad(await loadFleetFile(fleet));
    /** The fleet with one TLS file replaced, loaded from disk. */
    const withFile = async (field: "ca" | "cert" | "key", path: string) => {
      const tree = fleetTree();
      tree.tls = {
        ca: join(tls, "ca.pem"),
        cert: join(tls, "cert.pem"),
        key: join(tls, "key.pem"),
      };
      tree.tls[field] = path;
      const file = join(dir, `${field}-${path.split("/").pop()}.yaml`);
      await writeFile(file, stringify(tree));
      return loadFleetFile(file);
    };
    await mkdir(join(tls, "dir.pem"));
    await writeFile(join(tls, "garbage.pem"), "not PEM\n");
    await copyFile(join(tls, "key.pem"), join(tls, "open.key"));
    await chmod(join(tls, "open.key"), 0o644);
    const cases: [string, "ca" | "cert" | "key", string, string, RegExp][] = [
      ["missing", "key", join(tls, "nope.pem"), "tls-file", /nope\.pem does not exist/],
      ["a directory", "ca", join(tls, "dir.pem"), "tls-file", /not a regular file/],
      ["a key others can read", "key", join(tls, "open.key"), "tls-mode", /mode 0644.*chmod 600/],
      ["no PEM", "cert", join(tls, "garbage.pem"), "tls-pem", /holds no usable PEM certificate/],
      [
        "a certificate for a key",
        "key",
        join(tls, "cert.pem"),
        "tls-pem",
        /no usable PEM private key/,
      ],
    ];
    for (const [name, field, path, rule, message] of cases) {
      t.match(
        await withFile(field, path),
        { ok: false, issues: [{ path: `tls.${field}`, rule, message }] },
        name,
      );
    }
    const r = await load((f) => (f.tls.key = "/nonexistent/key.pem"));
    t.equal(r.ok, true, "the injected reader replaces the disk");
  },
);

t.test("a fleet file over 1 MiB is refused by its size, unread, in one issue", async (t) => {
  const file = join(await scratch(), "big.yaml");
  await writeFile(file, Buffer.alloc(1024 * 1024 + 1, "#"));
  const r = await loadFleetFile(file);
  t.same(r, {
    ok: false,
    issues: [
      {
        path: "",
        rule: "size",
        message:
          "the file is 1048577 bytes, over the 1048576-byte (1 MiB) limit of a config file; is it the right file?",
      },
    ],
    warnings: [],
  });
});

t.test("a refused fleet still reports its warnings, after its errors", async (t) => {
  const r = await load((f) => {
    f.pairs[0].preferred = "b1";
    f.connections = [];
  });
  t.match(r, {
    ok: false,
    issues: [{ path: "pairs[0].preferred", rule: "preferred" }],
    warnings: [
      { path: "pairs[0]", rule: "unused" },
      { path: "pairs[1]", rule: "unused" },
    ],
  });
  t.same(formatLoadResult("fleet.yaml", r).length, 3);
  t.match(formatLoadResult("fleet.yaml", r), [
    /pairs\[0\]\.preferred: "b1" is not a member.*\[preferred\]/,
    /pairs\[0\]: warning: pair-a is in no connection.*\[unused\]/,
    /pairs\[1\]: warning: pair-b is in no connection.*\[unused\]/,
  ]);
});

t.test("a missing fleet file is a read error, not an issue list", async (t) => {
  await t.rejects(loadFleetFile("/nonexistent/fleet.yaml"), { code: "SWP_ERR_CONFIG_READ" });
});

t.test("issues render as the agent's do", async (t) => {
  const r = await load((f) => (f.pairs[0].members = ["a1"]));
  t.same(formatLoadResult("fleet.yaml", r), [
    "fleet.yaml: pairs[0].members: has 1 member; a pair is exactly two appliances [pair-size]",
    "fleet.yaml: appliances[1]: warning: a2 is in no pair; no route will use it [unused]",
  ]);
});

// The example: vpc-a has two route tables, vpc-b one; each routes the other VPC's CIDR.
const EXAMPLE_ROUTES: [string, string, string, string][] = [
  ["a-b", "pair-a", "rtb-0a1", "10.2.0.0/16"],
  ["a-b", "pair-a", "rtb-0a2", "10.2.0.0/16"],
  ["a-b", "pair-b", "rtb-0b1", "10.1.0.0/16"],
];

/** A hub with two spokes, several CIDRs per VPC, so every loop in managedRoutes counts. */
const hubFleet = (f: Tree) => {
  f.vpcs[0].cidrs = ["10.1.0.0/16", "100.64.0.0/24"];
  f.vpcs[1].cidrs = ["10.2.0.0/16", "2001:db8:2::/56"];
  f.vpcs.push({ name: "vpc-c", id: "vpc-0789", cidrs: ["10.3.0.0/16"], routeTables: ["rtb-0c1"] });
  f.appliances.push(
    { name: "c1", vpc: "vpc-c", instanceId: "i-0c1", eni: "eni-0c1", agent: "unix:///run/c1" },
    { name: "c2", vpc: "vpc-c", instanceId: "i-0c2", eni: "eni-0c2", agent: "unix:///run/c2" },
  );
  f.pairs.push({ name: "pair-c", members: ["c1", "c2"] });
  f.connections.push({ name: "c-a", between: ["pair-c", "pair-a"] });
};

const HUB_ROUTES: [string, string, string, string][] = [
  ["a-b", "pair-a", "rtb-0a1", "10.2.0.0/16"],
  ["a-b", "pair-a", "rtb-0a1", "2001:db8:2::/56"],
  ["a-b", "pair-a", "rtb-0a2", "10.2.0.0/16"],
  ["a-b", "pair-a", "rtb-0a2", "2001:db8:2::/56"],
  ["a-b", "pair-b", "rtb-0b1", "10.1.0.0/16"],
  ["a-b", "pair-b", "rtb-0b1", "100.64.0.0/24"],
  ["c-a", "pair-c", "rtb-0c1", "10.1.0.0/16"],
  ["c-a", "pair-c", "rtb-0c1", "100.64.0.0/24"],
  ["c-a", "pair-a", "rtb-0a1", "10.3.0.0/16"],
  ["c-a", "pair-a", "rtb-0a2", "10.3.0.0/16"],
];

t.test("managed routes", async (t) => {
  const cases: [string, (f: Tree) => void, [string, string, string, string][]][] = [
    ["the documented example", () => {}, EXAMPLE_ROUTES],
    ["a hub with two spokes and several CIDRs", hubFleet, HUB_ROUTES],
  ];
  for (const [name, change, expected] of cases) {
    const { fleet } = mustLoad(await load(change));
    const routes = managedRoutes(fleet);
    t.same(
      routes.map((r) => [r.connection, r.pair, r.routeTable, r.destination]),
      expected,
      `${name}: exactly these, in this order`,
    );
    t.same(managedRoutes(fleet), routes, `${name}: deterministic`);

    const vpcOfTable = new Map(fleet.vpcs.flatMap((v) => v.routeTables.map((r) => [r, v])));
    for (const r of routes) {
      const own = vpcOfTable.get(r.routeTable);
      const dest = parseCidr(r.destination);
      if (!own || !dest.ok) throw new Error(`unresolvable route ${JSON.stringify(r)}`);
      const local = own.cidrs.some((c) => {
        const block = parseCidr(c);
        return block.ok && cidrsOverlap(block.cidr, dest.cidr);
      });
      t.notOk(local, `${r.routeTable} -> ${r.destination} leaves ${own.name}`);
      t.equal(
        fleet.pairs.find((p) => p.name === r.pair)?.vpc,
        own.name,
        "the route's pair lives in the route table's VPC",
      );
    }

    const byTable = routesByTable(fleet);
    t.same([...byTable.keys()], [...new Set(routes.map((r) => r.routeTable))], `${name}: tables`);
    for (const [table, list] of byTable) {
      t.same(
        list,
        routes.filter((r) => r.routeTable === table),
        `${name}: ${table}`,
      );
    }
  }
});

t.test("docs/fleet-config.schema.json is current", async (t) => {
  const onDisk = await readFile(
    new URL("../../docs/fleet-config.schema.json", import.meta.url),
    "utf8",
  );
  t.equal(onDisk, renderFleetSchema(), "run: node scripts/gen-schema.ts");
});
