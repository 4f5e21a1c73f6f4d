import { chmod, copyFile, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  CreateRouteTableCommand,
  DeleteTagsCommand,
  DescribeRouteTablesCommand,
  ReplaceRouteCommand,
} from "@aws-sdk/client-ec2";
import t, { type Test } from "tap";
import { Ec2 } from "../../control-plane/src/ec2/client.ts";
import { writeFence } from "../../control-plane/src/ec2/fences.ts";
import { makeTestPki } from "../helpers/certs.ts";
import { FaultProxy } from "../helpers/fault-proxy.ts";
import { type Tree, writeFleetFile } from "../helpers/fleet-file.ts";
import {
  type Seeded,
  type SeedSpec,
  seededFleet,
  seedFleet,
  startMoto,
  UNMANAGED_APPLIANCE_DESTINATION,
} from "../helpers/moto.ts";
import { ScriptedAgents } from "../helpers/scripted-agents.ts";
import { childEnv, SWANPAIR_BIN, spawnCli, swanpair } from "../helpers/swanpair-bin.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * The real `swanpair` CLI, spawned as an operator would run it, against a real moto server
 * seeded through the EC2 API: exit codes, rule ids and field paths, and that verify asks EC2
 * with DryRun only and leaves every route and tag as it found them.
 */

const moto = await startMoto(t);
const ec2 = new Ec2({ region: "eu-west-1", endpoint: moto.endpoint });
t.teardown(() => ec2.destroy());
/** Between the CLI and moto when a test's fleet file says so: records what verify sends. */
const proxy = await FaultProxy.start(moto.endpoint);
t.teardown(() => proxy.close());
const cli = swanpair;

/**
 * east: one CIDR, two tables; west: one CIDR, one table. Every west route to east is left
 * out, so west's table holds no managed route at all: verify must not create one.
 */
const SPEC: SeedSpec = {
  tag: { key: "swanpair:fleet", value: "cli-test" },
  vpcs: [
    { name: "east", cidrs: ["10.1.0.0/16"], tables: 2 },
    { name: "west", cidrs: ["10.2.0.0/16"] },
  ],
  connections: [["east", "west"]],
  missing: ["10.1.0.0/16"],
};

async function seed(spec: Partial<SeedSpec> = {}): Promise<Seeded> {
  await moto.reset();
  return seedFleet(ec2.sdk, { ...SPEC, ...spec });
}

/** The fleet file an operator would write for the seeded world, with `endpoint` set. */
async function fleetFile(t: Test, seeded: Seeded, change?: (tree: Tree) => void) {
  return writeFleetFile(await tempDir(t, "swp-cli-"), seededFleet(seeded, moto.endpoint), change);
}

/** Every route and tag of the seeded tables, in a stable order. */
async function snapshot(seeded: Seeded) {
  const ids = seeded.vpcs.flatMap((v) => v.routeTables);
  const out = await ec2.sdk.send(new DescribeRouteTablesCommand({ RouteTableIds: ids }));
  return (out.RouteTables ?? [])
    .map((table) => ({
      id: table.RouteTableId,
      routes: (table.Routes ?? []).map((r) => JSON.stringify(r)).sort(),
      tags: (table.Tags ?? []).map((tag) => `${tag.Key}=${tag.Value}`).sort(),
    }))
    .sort((a, b) => String(a.id).localeCompare(String(b.id)));
}

t.test("validate offline: a valid file exits 0, an invalid one 2 with path and rule", async (t) => {
  const seeded = await seed();
  const good = await cli("validate", "--config", await fleetFile(t, seeded));
  t.equal(good.code, 0, good.stderr);
  t.match(good.stdout, /valid \(2 VPCs, 4 appliances, 2 pairs, 1 connection, 3 managed routes\)/);

  const bad = await fleetFile(t, seeded, (f) => {
    f.pairs[0].members[1] = "nobody";
  });
  const human = await cli("validate", "--config", bad);
  t.equal(human.code, 2);
  t.match(human.stderr, /pairs\[0\]\.members\[1\]: unknown appliance "nobody".*\[unknown-ref\]/);
  const json = await cli("validate", "--config", bad, "--json");
  t.equal(json.code, 2);
  t.match(JSON.parse(json.stdout), {
    ok: false,
    errors: [{ path: "pairs[0].members[1]", rule: "unknown-ref" }],
  });
});

t.test("validate --ec2 passes when the file matches EC2", async (t) => {
  const seeded = await seed();
  const result = await cli("validate", "--config", await fleetFile(t, seeded), "--ec2");
  t.equal(result.code, 0, result.stderr);
  t.match(result.stdout, /matches EC2 in eu-west-1/);
  t.equal(result.stderr, "");
});

t.test("validate --ec2 finds a table of another VPC and an untagged table", async (t) => {
  const seeded = await seed();
  const [east, west] = seeded.vpcs;
  if (!east || !west) throw new Error("seed: two VPCs expected");
  // A tagged table of west's VPC, listed under east; and east's first table loses the tag.
  const foreign = await ec2.sdk.send(
    new CreateRouteTableCommand({
      VpcId: west.id,
      TagSpecifications: [
        { ResourceType: "route-table", Tags: [{ Key: SPEC.tag.key, Value: SPEC.tag.value }] },
      ],
    }),
  );
  const foreignId = foreign.RouteTable?.RouteTableId ?? "";
  await ec2.sdk.send(
    new DeleteTagsCommand({
      Resources: [east.routeTables[0] ?? ""],
      Tags: [{ Key: SPEC.tag.key }],
    }),
  );
  const file = await fleetFile(t, seeded, (f) => {
    f.vpcs[0].routeTables.push(foreignId);
  });

  const human = await cli("validate", "--config", file, "--ec2");
  t.equal(human.code, 2, "a fleet that does not match EC2 is invalid");
  t.match(
    human.stderr,
    new RegExp(
      `vpcs\\[0\\]\\.routeTables\\[2\\]: ${foreignId} belongs to ${west.id}.*\\[route-table-vpc\\]`,
    ),
  );
  t.match(
    human.stderr,
    /vpcs\[0\]\.routeTables\[0\]: .*fleet tag swanpair:fleet=cli-test.*\[route-table-untagged\]/,
  );

  const json = await cli("validate", "--config", file, "--ec2", "--json");
  t.equal(json.code, 2);
  const report = JSON.parse(json.stdout);
  t.same(
    report.errors.map((i: { path: string; rule: string }) => `${i.path} ${i.rule}`),
    ["vpcs[0].routeTables[0] route-table-untagged", "vpcs[0].routeTables[2] route-table-vpc"],
  );
});

t.test("verify passes on a good fleet and leaves every route and tag as it was", async (t) => {
  const seeded = await seed();
  const [east] = seeded.vpcs;
  if (!east) throw new Error("seed: east expected");
  const [first, second] = east.routeTables;
  // A fence on the first table only, and the second table's route on the other member: verify
  // must change neither, and ask about the route where it is, not where the preferred member
  // would have it.
  await writeFence(
    ec2,
    [first ?? ""],
    { connection: "east-west", pair: "east-pair" },
    { active: "east-a", epoch: 7, at: "2026-01-01T00:00:00.000Z" },
  );
  await ec2.sdk.send(
    new ReplaceRouteCommand({
      RouteTableId: second,
      DestinationCidrBlock: "10.2.0.0/16",
      NetworkInterfaceId: east.appliances[1].eni,
    }),
  );
  const before = await snapshot(seeded);
  const file = await fleetFile(t, seeded);

  const result = await cli("verify", "--config", file);
  t.equal(result.code, 0, result.stdout + result.stderr);
  for (const table of [first, second])
    t.match(
      result.stdout,
      new RegExp(
        `${table}\\s+OK\\s+CreateTags of east-west/east-pair's fence allowed \\(DryRun\\)`,
      ),
      `${table}: fence row, with or without a fence on the table`,
    );
  t.match(
    result.stdout,
    new RegExp(
      `${second}\\s+OK\\s+ReplaceRoute 10.2.0.0/16 -> ${east.appliances[1].eni} \\(east-b\\) allowed \\(DryRun\\)`,
    ),
  );
  t.match(result.stdout, /verify: \d+ OK, 0 FAIL, \d+ SKIP/);

  const json = JSON.parse((await cli("verify", "--config", file, "--json")).stdout);
  const rows = json.checks.map(
    (r: { check: string; subject: string; status: string }) =>
      `${r.check} ${r.subject} ${r.status}`,
  );
  const westTable = seeded.vpcs[1]?.routeTables[0];
  t.same(rows, [
    `fence-tags ${first} OK`,
    `fence-tags ${second} OK`,
    // No managed route in west's table yet, but west's side routes through it: a fence goes there.
    `fence-tags ${westTable} OK`,
    `replace-route ${first} OK`,
    `replace-route ${second} OK`,
    `replace-route ${westTable} SKIP`,
    "source-dest-check east-a OK",
    "source-dest-check east-b OK",
    "source-dest-check west-a OK",
    "source-dest-check west-b OK",
  ]);

  const after = await snapshot(seeded);
  t.same(after, before, "routes (managed and unmanaged) and tags unchanged after two runs");
  const westRoutes = after.find((tb) => tb.id === westTable)?.routes ?? [];
  t.notOk(
    westRoutes.some((r) => r.includes("10.1.0.0/16")),
    "the missing managed route was not created",
  );
  t.ok(
    westRoutes.some((r) => r.includes(UNMANAGED_APPLIANCE_DESTINATION)),
    "the unmanaged route to an appliance is still there",
  );
});

t.test("verify in swap mode re-asserts a prepared route on every member table", async (t) => {
  const seeded = await seed({
    vpcs: [
      { name: "east", cidrs: ["10.1.0.0/16"], tables: 0, swap: { groups: 2 } },
      { name: "west", cidrs: ["10.2.0.0/16"] },
    ],
    missing: [],
  });
  const [east] = seeded.vpcs;
  const memberTables = east?.swap.flatMap((g) => Object.values(g.tables)) ?? [];
  t.equal(memberTables.length, 4);
  const result = await cli("verify", "--config", await fleetFile(t, seeded), "--json");
  t.equal(result.code, 0, result.stdout + result.stderr);
  const rows = JSON.parse(result.stdout).checks as Array<{
    check: string;
    subject: string;
    status: string;
  }>;
  for (const id of memberTables) {
    t.match(
      rows.find((r) => r.check === "replace-route" && r.subject === id),
      { status: "OK" },
      `${id} route`,
    );
    t.match(
      rows.find((r) => r.check === "fence-tags" && r.subject === id),
      { status: "OK" },
      `${id} fence`,
    );
  }
});

t.test("verify sends each write with DryRun and changes nothing", async (t) => {
  const seeded = await seed({ missing: [] });
  const [east] = seeded.vpcs;
  if (!east) throw new Error("seed: east expected");
  await writeFence(
    ec2,
    east.routeTables,
    { connection: "east-west", pair: "east-pair" },
    { active: "east-a", epoch: 3, at: "2026-01-01T00:00:00.000Z" },
  );
  const before = await snapshot(seeded);
  proxy.reset();
  const file = await fleetFile(t, seeded, (f) => {
    f.endpoint = proxy.endpoint;
  });
  const result = await cli("verify", "--config", file, "--json");
  t.equal(result.code, 0, result.stdout + result.stderr);
  const writes = proxy.requests().filter((r) => !r.action.startsWith("Describe"));
  t.same(
    [...new Set(writes.map((w) => w.action))].sort(),
    ["CreateTags", "ReplaceRoute"],
    "verify's only mutating calls",
  );
  t.equal(proxy.count("CreateTags"), 3, "one CreateTags per managed table");
  t.equal(proxy.count("ReplaceRoute"), 3, "one ReplaceRoute per table with a member's route");
  for (const w of writes) {
    const table = w.params.RouteTableId ?? w.params["ResourceId.1"];
    t.equal(w.params.DryRun, "true", `${w.action} ${table}: DryRun`);
  }
  const tagged = proxy.requests("CreateTags");
  t.ok(
    tagged.every(
      (w) => w.params["Tag.1.Key"]?.startsWith("swanpair:fence:") && !w.params["Tag.2.Key"],
    ),
    "each CreateTags names one side's fence key and nothing else",
  );
  t.same(await snapshot(seeded), before, "every route and tag (the fences included) as it was");
});

t.test("verify: an UnauthorizedOperation answer is a FAIL row, and exit 1", async (t) => {
  const seeded = await seed({ missing: [] });
  const before = await snapshot(seeded);
  proxy.reset();
  const denied = (action: string) => ({
    kind: "error" as const,
    status: 403,
    code: "UnauthorizedOperation",
    message: `You are not authorized to perform this operation (${action}).`,
  });
  proxy.inject("CreateTags", denied("CreateTags"));
  proxy.inject("ReplaceRoute", denied("ReplaceRoute"));
  const file = await fleetFile(t, seeded, (f) => {
    f.endpoint = proxy.endpoint;
  });
  const result = await cli("verify", "--config", file, "--json");
  t.equal(result.code, 1, result.stderr);
  const checks = JSON.parse(result.stdout).checks as Array<{
    check: string;
    status: string;
    reason: string;
  }>;
  const failed = checks.filter((r) => r.status === "FAIL");
  t.same(
    failed.map((r) => r.check).sort(),
    ["fence-tags", "replace-route"],
    "one FAIL per refused write; the others still run",
  );
  for (const r of failed) t.match(r.reason, /UnauthorizedOperation/);
  t.equal(checks.filter((r) => r.check === "fence-tags" && r.status === "OK").length, 2);
  t.equal(proxy.count("CreateTags", "error"), 1, "a refusal is not retried");
  t.same(await snapshot(seeded), before, "nothing changed");
  const human = await cli("verify", "--config", file);
  t.match(human.stdout, /verify: \d+ OK, 0 FAIL/, "without the faults it passes");
});

t.test("verify fails, exit 1, when an appliance keeps SourceDestCheck on", async (t) => {
  const seeded = await seed({ sourceDestCheckOn: ["west-b"] });
  const westB = seeded.vpcs[1]?.appliances[1];
  const result = await cli("verify", "--config", await fleetFile(t, seeded));
  t.equal(result.code, 1);
  t.match(
    result.stdout,
    new RegExp(
      `west-b\\s+FAIL\\s+SourceDestCheck enabled on ${westB?.instanceId}: aws ec2 modify-instance-attribute --instance-id ${westB?.instanceId} --no-source-dest-check`,
    ),
  );
  t.match(result.stdout, /east-a\s+OK/);
  t.match(result.stdout, /verify: \d+ OK, 1 FAIL/);
});

t.test("iam-policy prints JSON that parses and names the fleet tag", async (t) => {
  const seeded = await seed();
  const result = await cli("iam-policy", "--config", await fleetFile(t, seeded));
  t.equal(result.code, 0, result.stderr);
  const policy = JSON.parse(result.stdout);
  t.equal(policy.Version, "2012-10-17");
  t.match(result.stdout, '"ec2:ResourceTag/swanpair:fleet": "cli-test"');
  t.match(result.stdout, '"arn:aws:ec2:eu-west-1:*:route-table/*"');
});

t.test("usage errors exit 2, --help exits 0", async (t) => {
  t.equal((await cli("frobnicate")).code, 2);
  t.equal((await cli("verify")).code, 2, "--config is required");
  for (const command of ["validate", "verify", "iam-policy"]) {
    const help = await cli(command, "--help");
    t.equal(help.code, 0, `${command} --help`);
    t.match(help.stdout, /--config <file>/);
  }
});

// The UX review: version, examples, --json everywhere, status and plan exit codes, TLS checks,
// quoted values, bounded and complete error output.

const PACKAGE = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8"));
const COMMANDS = [
  ["validate"],
  ["verify"],
  ["prepare"],
  ["iam-policy"],
  ["status"],
  ["plan"],
  ["failover"],
  ["controller", "run"],
];

t.test("--version, and examples and --json in every command's help", async (t) => {
  const version = await cli("--version");
  t.equal(version.code, 0);
  t.equal(version.stdout, `${PACKAGE.version}\n`);
  for (const command of COMMANDS) {
    const help = await cli(...command, "--help");
    t.equal(help.code, 0, command.join(" "));
    t.match(help.stdout, /--json/, `${command.join(" ")} has --json`);
    t.match(
      help.stdout,
      new RegExp(`Examples:\\n  \\$ swanpair ${command.join(" ")} `),
      `${command.join(" ")} has examples`,
    );
  }
});

/** The seeded fleet with every agent answering, healthy, on a scripted socket. */
async function answering(t: Test, spec: Partial<SeedSpec> = {}) {
  const seeded = await seed(spec);
  const agents = await ScriptedAgents.start(t, seededFleet(seeded, moto.endpoint));
  const fleet = agents.wire(seededFleet(seeded, moto.endpoint));
  const file = await writeFleetFile(await tempDir(t, "swp-cli-"), fleet);
  return { seeded, agents, file };
}

t.test(
  "status exits 0 when all is well, 1 (still printing) for an unreachable agent",
  async (t) => {
    const { agents, file } = await answering(t, { missing: [] });
    const good = await cli("status", "--config", file);
    t.equal(good.code, 0, good.stderr);
    t.match(good.stdout, /CONNECTION\s+PAIR\s+ACTIVE/);
    t.match(JSON.parse((await cli("status", "--config", file, "--json")).stdout), { ok: true });

    await agents.down("east-b");
    const human = await cli("status", "--config", file);
    t.equal(human.code, 1);
    t.match(human.stdout, /east-b\s+\S+\s+unreachable/, "the table is still printed");
    t.match(human.stderr, /status: not ok: unreachable agent\(s\): east-b/);
    const json = await cli("status", "--config", file, "--json");
    t.equal(json.code, 1);
    t.match(JSON.parse(json.stdout), { ok: false, problems: [/^agent east-b: /] });
  },
);

t.test("status exits 1 while a side is in alarm", async (t) => {
  const { agents, file } = await answering(t, { missing: [] });
  // Both east members report their tunnels down: the side has no healthy target.
  for (const member of ["east-a", "east-b"]) {
    agents.setTunnels(member, { "west-a": "down", "west-b": "down" });
  }
  const r = await cli("status", "--config", file, "--json");
  t.equal(r.code, 1, r.stderr);
  const status = JSON.parse(r.stdout);
  t.equal(status.ok, false);
  t.ok(
    status.sides.some((s: { alarm: unknown }) => s.alarm),
    "a side in alarm",
  );
  const human = await cli("status", "--config", file);
  t.equal(human.code, 1);
  t.match(human.stderr, /side(s)? in alarm \(east-west\/east-pair/);
});

t.test("plan --detailed-exitcode: 0 nothing to do, 2 writes pending, 1 any error", async (t) => {
  const clean = await answering(t, { missing: [] });
  const none = await cli("plan", "--config", clean.file, "--detailed-exitcode");
  t.equal(none.code, 0, none.stdout + none.stderr);
  t.match(none.stdout, /no changes/);

  const pending = await answering(t);
  const two = await cli("plan", "--config", pending.file, "--detailed-exitcode");
  t.equal(two.code, 2, two.stderr);
  t.match(two.stdout, /west-east\/west-pair|route\(s\) to/);
  const json = await cli("plan", "--config", pending.file, "--detailed-exitcode", "--json");
  t.equal(json.code, 2);
  t.ok(JSON.parse(json.stdout).writes.length > 0);
  t.equal((await cli("plan", "--config", pending.file)).code, 0, "without the flag: 0");

  const self = await cli(
    "plan",
    "--config",
    pending.file,
    "--self",
    "nobody",
    "--detailed-exitcode",
  );
  t.equal(self.code, 1, "bad usage is an error, not 2");
  const invalid = join(await tempDir(t, "swp-cli-"), "bad.yaml");
  await writeFile(invalid, "region: nowhere\n");
  t.equal((await cli("plan", "--config", invalid, "--detailed-exitcode")).code, 1, "invalid file");
  t.equal((await cli("plan", "--config", invalid)).code, 2, "without the flag: 2");
  t.equal((await cli("plan", "--bogus", "--detailed-exitcode")).code, 1, "unknown option");
});

t.test("under --json, errors are one JSON document on stdout", async (t) => {
  const usage = await cli("verify", "--json");
  t.equal(usage.code, 2);
  t.same(JSON.parse(usage.stdout), {
    error: { code: "SWP_ERR_USAGE", message: "required option '--config <file>' not specified" },
  });
  t.equal(usage.stderr, "");

  const seeded = await seed();
  // An error (unknown appliance) and a warning (west-a, now in no pair).
  const file = await fleetFile(t, seeded, (f) => {
    f.pairs[1].members[0] = "nobody";
  });
  for (const command of ["status", "plan", "verify", "iam-policy", "prepare"]) {
    const r = await cli(command, "--config", file, "--json");
    t.equal(r.code, 2, command);
    t.match(
      JSON.parse(r.stdout),
      {
        error: {
          code: "SWP_ERR_CONFIG_INVALID",
          file,
          issues: [{ path: "pairs[1].members[0]", rule: "unknown-ref" }],
          warnings: [{ path: "appliances[2]", rule: "unused" }],
        },
      },
      command,
    );
  }
  const failover = await cli("failover", "east-west", "--to", "east-b", "--config", file, "--json");
  t.equal(failover.code, 2);
  t.match(JSON.parse(failover.stdout), { error: { code: "SWP_ERR_CONFIG_INVALID" } });
});

t.test("a refused fleet prints its warnings with its errors, and quotes bad values", async (t) => {
  const seeded = await seed();
  const file = await fleetFile(t, seeded, (f) => {
    f.pairs[1].members[0] = "nobody";
  });
  const r = await cli("validate", "--config", file);
  t.equal(r.code, 2);
  t.match(r.stderr, /pairs\[1\]\.members\[0\]: unknown appliance "nobody".*\[unknown-ref\]/);
  t.match(r.stderr, /appliances\[2\]: warning: west-a is in no pair.*\[unused\]/);

  const quoted = await fleetFile(t, seeded, (f) => {
    f.vpcs[0].cidrs = ["10.1.0.300/16"];
    f.appliances[0].instanceId = "i-0ABC";
    f.appliances[1].agent = "http://10.1.1.10:7443";
  });
  const q = await cli("validate", "--config", quoted);
  t.equal(q.code, 2);
  t.match(q.stderr, 'invalid CIDR "10.1.0.300/16": "10.1.0.300" is not an IPv4 address [format]');
  t.match(q.stderr, '"i-0ABC" is not an EC2 id: it must be "i-" followed by');
  t.match(q.stderr, 'invalid agent URL "http://10.1.1.10:7443"');
});

t.test("a fleet file over 1 MiB is refused in one line, unread", async (t) => {
  const big = join(await tempDir(t, "swp-cli-"), "big.yaml");
  await writeFile(big, Buffer.alloc(5 * 1024 * 1024, "x"));
  const r = await cli("status", "--config", big);
  t.equal(r.code, 2);
  t.equal(r.stdout, "");
  t.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr.slice(0, 200));
  t.match(r.stderr, /the file is 5242880 bytes, over the 1048576-byte \(1 MiB\) limit.*\[size\]/);
});

t.test("validate checks the controller's TLS files as the agent checks its own", async (t) => {
  const seeded = await seed();
  const dir = await tempDir(t, "swp-cli-tls-");
  const pki = await makeTestPki(dir);
  const withTls = (tls: Record<string, string>) =>
    fleetFile(t, seeded, (f) => {
      f.tls = { ...pki.client, ...tls };
    });
  const good = await cli("validate", "--config", await withTls({}));
  t.equal(good.code, 0, good.stderr);

  const open = join(dir, "open.key");
  await copyFile(pki.client.key, open);
  await chmod(open, 0o644);
  const mode = await cli("validate", "--config", await withTls({ key: open }));
  t.equal(mode.code, 2);
  t.match(
    mode.stderr,
    /tls\.key: .*open\.key has mode 0644; it must be 0600 or stricter.*\[tls-mode\]/,
  );

  const notPem = join(dir, "ca.txt");
  await writeFile(notPem, "not a certificate\n");
  const pem = await cli("validate", "--config", await withTls({ ca: notPem }), "--json");
  t.equal(pem.code, 2);
  t.match(JSON.parse(pem.stdout), {
    ok: false,
    errors: [{ path: "tls.ca", rule: "tls-pem", message: /holds no usable PEM certificate/ }],
  });
  const mismatch = await cli("validate", "--config", await withTls({ key: pki.server.key }));
  t.equal(mismatch.code, 2);
  t.match(mismatch.stderr, /tls\.key: .* is not the key of the certificate in .*\[tls-pem\]/);
});

t.test(
  "EC2 failures carry their own codes: unauthorised, throttled to the end, any other",
  async (t) => {
    const seeded = await seed();
    proxy.reset();
    const file = await fleetFile(t, seeded, (f) => {
      f.endpoint = proxy.endpoint;
    });
    const validateEc2 = async () => {
      const r = await cli("validate", "--config", file, "--ec2", "--json");
      return { code: r.code, out: JSON.parse(r.stdout) };
    };
    const failsWith = (code: string, message: RegExp) => ({
      code: 1,
      out: { error: { code, message } },
    });

    proxy.inject("DescribeRouteTables", {
      kind: "error",
      status: 403,
      code: "UnauthorizedOperation",
    });
    t.match(
      await validateEc2(),
      failsWith("SWP_ERR_EC2_UNAUTHORIZED", /DescribeRouteTables .*UnauthorizedOperation/),
    );
    proxy.inject("DescribeRouteTables", { kind: "error", status: 401, code: "AuthFailure" });
    t.match(await validateEc2(), failsWith("SWP_ERR_EC2_UNAUTHORIZED", /AuthFailure/));
    proxy.inject("DescribeRouteTables", {
      kind: "error",
      status: 400,
      code: "InvalidRouteTableID.NotFound",
    });
    t.match(await validateEc2(), failsWith("SWP_ERR_EC2_CALL", /InvalidRouteTableID\.NotFound/));
    // Every action's bucket empty and never refilled: every retry is throttled too.
    proxy.throttle({ size: 0, refillPerSecond: 0 });
    t.match(await validateEc2(), failsWith("SWP_ERR_EC2_THROTTLED", /RequestLimitExceeded/));
    proxy.reset();

    // No credentials anywhere in the SDK's chain: refused before any request.
    const env = Object.fromEntries(
      Object.entries(childEnv()).filter(
        ([k]) => !/^AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)$/.test(k),
      ),
    );
    const bare = await spawnCli(SWANPAIR_BIN, ["validate", "--config", file, "--ec2"], env);
    t.equal(bare.code, 1);
    t.match(bare.stderr, /CredentialsProviderError.*\(SWP_ERR_EC2_UNAUTHORIZED\)$/m);
    t.equal(proxy.count(), 0, "nothing was sent");
  },
);

t.test("prepare reports each failed route write with its code", async (t) => {
  const seeded = await seed({
    vpcs: [
      { name: "east", cidrs: ["10.1.0.0/16"], tables: 0, swap: { groups: 1, prepared: false } },
      { name: "west", cidrs: ["10.2.0.0/16"] },
    ],
    missing: [],
  });
  proxy.reset();
  const file = await fleetFile(t, seeded, (f) => {
    f.endpoint = proxy.endpoint;
  });
  const memberTables = seeded.vpcs[0]?.swap.flatMap((g) => Object.values(g.tables)) ?? [];
  t.equal(memberTables.length, 2);
  const refuse = () =>
    proxy.inject(
      "CreateRoute",
      ...memberTables.map(() => ({
        kind: "error" as const,
        status: 403,
        code: "UnauthorizedOperation",
      })),
    );

  refuse();
  const human = await cli("prepare", "--config", file);
  t.equal(human.code, 1);
  for (const table of memberTables)
    t.match(
      human.stderr,
      new RegExp(
        `^  ${table} 10\\.2\\.0\\.0/16: .*UnauthorizedOperation.* \\(SWP_ERR_EC2_UNAUTHORIZED\\)$`,
        "m",
      ),
    );

  refuse();
  const json = await cli("prepare", "--config", file, "--json");
  t.equal(json.code, 1);
  const out = JSON.parse(json.stdout);
  t.match(out, { ok: false, created: 0 });
  t.same(
    out.failed.map((f: { code: string }) => f.code),
    ["SWP_ERR_EC2_UNAUTHORIZED", "SWP_ERR_EC2_UNAUTHORIZED"],
  );
});
