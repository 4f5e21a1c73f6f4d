import type { ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import t from "tap";
import { parse, stringify } from "yaml";
import { ApiClient } from "../../common/agent-api/client.ts";
import type { AgentStatus } from "../../common/agent-api/status.ts";
import { pskParameterName } from "../../common/psk-names.ts";
import { renderAgentConfigs } from "../../control-plane/src/agents-config/render.ts";
import { loadFleetFile } from "../../control-plane/src/fleet/load.ts";
import { AGENT_BIN, waitFor } from "../helpers/agent-lab.ts";
import { createMeshLab } from "../helpers/mesh-lab.ts";
import { startMoto } from "../helpers/moto.ts";
import { nsExec, nsSpawn, stopChild } from "../helpers/netns.ts";
import { bridgeIntoNetns } from "../helpers/ns-bridge.ts";
import { swanpair } from "../helpers/swanpair-bin.ts";

/**
 * `swanpair agents apply` through the real CLI, against six real agents with real charon: a hub
 * fleet (VPC a connected to b and to c, a pair in each), keys in moto's SSM. Each appliance is
 * a namespace on one "internet" bridge behind a 1:1 NAT (mesh-lab.ts). The agents start with
 * their rendered config minus the tunnels, as a fresh appliance would; apply brings up the mesh.
 */

// biome-ignore lint/suspicious/noExplicitAny: the CLI's JSON is checked field by field.
type Json = any;

const VPCS = { a: 1, b: 2, c: 3 } as const;
type Vpc = keyof typeof VPCS;
const APPLIANCES = (["a", "b", "c"] as const).flatMap((vpc) =>
  [1, 2].map((member) => ({
    name: `${vpc}${member}`,
    vpc: vpc as Vpc,
    private: `10.${VPCS[vpc]}.0.1${member}`,
    public: `198.18.61.${VPCS[vpc]}${member}`,
  })),
);
const PREFIX = "/swanpair/test";
const PSK = "apply-test-psk-0123456789abcdef";

// Six agents and charons, and two rounds of renegotiation: longer than tap's default.
t.setTimeout(300_000);
const dir = await mkdtemp("/tmp/swp-apl-");
const moto = await startMoto(t);
const lab = createMeshLab(
  "swp-apl",
  APPLIANCES.map((a) => ({ name: a.name, public: a.public, private: a.private })),
);
const agents = new Map<string, ChildProcess>();
t.teardown(async () => {
  if (!t.passing()) {
    for (const a of APPLIANCES) {
      const log = await readFile(join(dir, `${a.name}.log`), "utf8").catch(() => "");
      t.comment(`agent ${a.name} log (tail):\n${log.split("\n").slice(-25).join("\n")}`);
    }
  }
  for (const child of agents.values()) await stopChild(child);
  lab.cleanup();
  await rm(dir, { recursive: true, force: true });
});
// moto's endpoint, 127.0.0.1:PORT, works inside every appliance's namespace too.
await bridgeIntoNetns(
  t,
  dir,
  Number(new URL(moto.endpoint).port),
  APPLIANCES.map((a) => lab.ns(a.name)),
);

const ssm = new SSMClient({ region: "eu-west-1", endpoint: moto.endpoint });
t.teardown(() => ssm.destroy());
async function putKey(a: string, b: string, value: string) {
  const Name = pskParameterName(PREFIX, a, b);
  await ssm.send(
    new PutParameterCommand({ Name, Value: value, Type: "SecureString", Overwrite: true }),
  );
}
for (const a of ["a1", "a2"]) for (const far of ["b1", "b2", "c1", "c2"]) await putKey(a, far, PSK);

const socket = (name: string) => join(dir, name, "agent.sock");
const fleetFile = join(dir, "fleet.yaml");

/** The hub fleet, VPC c with `cCidrs`; without VPC c (its pair and connection) unless `withC`. */
async function writeFleet({ cCidrs = ["10.3.0.0/16"], withC = true } = {}) {
  const cidrs: Record<Vpc, string[]> = { a: ["10.1.0.0/16"], b: ["10.2.0.0/16"], c: cCidrs };
  const vpcs = (Object.keys(VPCS) as Vpc[]).filter((v) => withC || v !== "c");
  const tree = {
    region: "eu-west-1",
    tag: { key: "swanpair", value: "test" },
    vpcs: vpcs.map((v) => ({
      name: `v${v}`,
      id: `vpc-${v}`,
      cidrs: cidrs[v],
      routeTables: [`rtb-${v}`],
    })),
    appliances: APPLIANCES.filter((a) => vpcs.includes(a.vpc)).map((a) => ({
      name: a.name,
      vpc: `v${a.vpc}`,
      instanceId: `i-${a.name}`,
      eni: `eni-${a.name}`,
      agent: `unix://${socket(a.name)}`,
      address: { private: a.private, public: a.public },
    })),
    pairs: vpcs.map((v) => ({
      name: `p${v}`,
      members: [`${v}1`, `${v}2`],
      preferred: `${v}1`,
    })),
    connections: [
      { name: "ab", kind: "site-to-site", between: ["pa", "pb"] },
      ...(withC ? [{ name: "ac", kind: "site-to-site", between: ["pa", "pc"] }] : []),
    ],
    agents: { datapath: "libipsec", stateDir: join(dir, "{appliance}") },
    keys: { ssm: { endpoint: moto.endpoint } },
  };
  await writeFile(fleetFile, stringify(tree));
}

/** What `agents apply` renders, by appliance, from the fleet file as it is now. */
async function rendered(): Promise<Map<string, string>> {
  const loaded = await loadFleetFile(fleetFile);
  if (!loaded.ok) throw new Error(`fleet invalid: ${JSON.stringify(loaded.issues)}`);
  const result = renderAgentConfigs(loaded.fleet);
  if (!result.ok) throw new Error(`cannot render: ${JSON.stringify(result.issues)}`);
  return new Map(result.configs.map((c) => [c.appliance, c.yaml]));
}

// Each agent starts from its rendered config without tunnels: what a fresh appliance runs.
await writeFleet();
for (const [name, yaml] of await rendered()) {
  const config = parse(yaml);
  config.tunnels = [];
  const path = join(dir, `${name}.yaml`);
  await writeFile(path, stringify(config), { mode: 0o600 });
  const log = createWriteStream(join(dir, `${name}.log`), { flags: "a" });
  const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}` };
  const child = nsSpawn(lab.ns(name), AGENT_BIN, ["run", "--config", path], {
    stdio: ["ignore", "pipe", "pipe"],
    env,
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  agents.set(name, child);
}
const client = (name: string) => new ApiClient({ socketPath: socket(name) }, { timeoutMs: 5000 });
const status = (name: string): Promise<AgentStatus | null> =>
  client(name)
    .status()
    .catch(() => null);
await waitFor(
  "every agent answering",
  async () => (await Promise.all(APPLIANCES.map((a) => status(a.name)))).every(Boolean),
  30_000,
);

const file = (name: string) => readFile(join(dir, `${name}.yaml`), "utf8");

async function apply(...args: string[]): Promise<{ code: number; view: Json; stderr: string }> {
  const r = await swanpair("agents", "apply", "--config", fleetFile, "--json", ...args);
  return { code: r.code, view: JSON.parse(r.stdout), stderr: r.stderr };
}
const row = (view: Json, name: string) =>
  view.appliances.find((a: { name: string }) => a.name === name);

/** Every tunnel of every agent, by "appliance/tunnel", with its state. */
async function tunnels() {
  const all = new Map<string, string>();
  for (const a of APPLIANCES) {
    for (const tun of (await status(a.name))?.tunnels ?? [])
      all.set(`${a.name}/${tun.name}`, tun.state);
  }
  return all;
}

/**
 * charon's own view, by "appliance/tunnel": the unique ids of its established IKE_SAs (two when
 * both ends initiated at once) and of their installed CHILD_SAs.
 */
function charonSas() {
  const all = new Map<string, { ike: string[]; child: string[] }>();
  for (const a of APPLIANCES) {
    const uri = `unix://${join(dir, a.name, "charon.vici")}`;
    const out = nsExec(lab.ns(a.name), "swanctl", ["--list-sas", "--uri", uri]);
    // The IKE_SA a CHILD_SA line belongs to: the last IKE_SA line above it, if established.
    let ikeOf: { ike: string[]; child: string[] } | undefined;
    for (const line of out.split("\n")) {
      const [, tunnel, ike, state] = /^(\S+): #(\d+), (\w+)/.exec(line) ?? [];
      if (tunnel && ike) {
        ikeOf = undefined;
        if (state !== "ESTABLISHED") continue;
        ikeOf = all.get(`${a.name}/${tunnel}`) ?? { ike: [], child: [] };
        ikeOf.ike.push(ike);
        all.set(`${a.name}/${tunnel}`, ikeOf);
        continue;
      }
      const [, child] = /^ {2}\S+: #(\d+), reqid \d+, INSTALLED/.exec(line) ?? [];
      if (child && ikeOf) ikeOf.child.push(child);
    }
  }
  for (const sas of all.values()) {
    sas.ike.sort();
    sas.child.sort();
  }
  return all;
}

/** The mesh: a's members to every member of b and c, and back; 16 tunnel ends. */
const MESH = [
  ...["a1", "a2"].flatMap((a) =>
    ["b1", "b2", "c1", "c2"].flatMap((f) => [`${a}/${f}`, `${f}/${a}`]),
  ),
].sort();

/** Once all 16 tunnel ends are up; on timeout, says which were not. */
async function meshUp() {
  let last = new Map<string, string>();
  const up = async () => {
    last = await tunnels();
    const ends = [...last.keys()].sort();
    return (
      JSON.stringify(ends) === JSON.stringify(MESH) && [...last.values()].every((s) => s === "up")
    );
  };
  await waitFor("every mesh tunnel up", up, 60_000, 200).catch((error: Error) => {
    const down = [...last].filter(([, s]) => s !== "up").map(([k, s]) => `${k} ${s}`);
    throw new Error(`${error.message}; not up: ${down.join(", ") || "(missing ends)"}`);
  });
}

/** charon's SAs once the mesh is up and they stopped changing: the same twice, 1 s apart. */
async function settledSas() {
  await meshUp();
  let last = "";
  return waitFor(
    "SA ids to settle",
    async () => {
      const now = charonSas();
      const same = JSON.stringify([...now]) === last;
      last = JSON.stringify([...now]);
      if (!same) await new Promise((r) => setTimeout(r, 1000));
      return same ? now : null;
    },
    60_000,
    0,
  );
}

t.test("--dry-run shows each agent's changes and writes nothing", async (t) => {
  const before = await Promise.all(APPLIANCES.map((a) => file(a.name)));
  const { code, view } = await apply("--dry-run");
  t.equal(code, 0);
  t.equal(view.dryRun, true);
  t.same(
    view.appliances.map((a: Json) => [a.name, a.outcome]),
    APPLIANCES.map((a) => [a.name, "would-change"]),
  );
  const diff: string[] = row(view, "b1").diff;
  t.ok(diff.includes("-tunnels: []"), "the line it would remove");
  for (const line of [
    "+tunnels:",
    "+  - name: a1",
    "+  - name: a2",
    "+      ssm: /swanpair/test/psk/a1/b1",
  ]) {
    t.ok(diff.includes(line), `a line it would add: ${line}`);
  }
  t.same(await Promise.all(APPLIANCES.map((a) => file(a.name))), before, "no file changed");
  for (const a of APPLIANCES)
    t.same((await status(a.name))?.tunnels, [], `${a.name} has no tunnel`);
});

t.test("apply pushes every config at once and brings the mesh up", async (t) => {
  const { code, view, stderr } = await apply();
  t.equal(code, 0, stderr);
  t.equal(view.dryRun, false);
  for (const a of APPLIANCES) {
    const far = a.vpc === "a" ? ["b1", "b2", "c1", "c2"] : ["a1", "a2"];
    t.match(row(view, a.name), {
      outcome: "applied",
      result: { ok: true, configChanged: true, loaded: far, unloaded: [] },
    });
  }
  const texts = await rendered();
  for (const a of APPLIANCES) {
    t.equal(await file(a.name), texts.get(a.name), `${a.name}'s file holds its rendered config`);
  }
  await meshUp();
  t.pass("all 16 tunnel ends are up");

  const again = await apply();
  t.equal(again.code, 0);
  t.same(
    again.view.appliances.map((a: Json) => [a.name, a.outcome]),
    APPLIANCES.map((a) => [a.name, "unchanged"]),
    "applying the same fleet again changes nothing",
  );
  const dry = await apply("--dry-run");
  t.ok(
    dry.view.appliances.every((a: Json) => a.outcome === "unchanged"),
    "nor would a dry run",
  );
});

t.test("a CIDR added to a VPC: only the tunnels to it are renegotiated", async (t) => {
  const before = await settledSas();
  // With libipsec, charon routes a CHILD_SA's traffic itself, from an address of its own in
  // each local subnet: c's appliances get one in the new CIDR, as they would an ENI in it.
  for (const name of ["c1", "c2"]) {
    nsExec(lab.ns(name), "ip", ["addr", "add", `10.13.0.${name.slice(1)}/32`, "dev", "lo"]);
  }
  await writeFleet({ cCidrs: ["10.3.0.0/16", "10.13.0.0/16"] });

  const dry = await apply("--dry-run");
  t.equal(row(dry.view, "a1").outcome, "would-change");
  t.same(
    row(dry.view, "a1").diff.filter((l: string) => !l.startsWith("@@")),
    ["+      - 10.13.0.0/16", "+      - 10.13.0.0/16"],
    "a1's two tunnels to c gain the CIDR, and nothing else changes",
  );
  t.match(row(dry.view, "b1"), { outcome: "unchanged" });

  const { code, view, stderr } = await apply();
  t.equal(code, 0, stderr);
  for (const name of ["a1", "a2"]) {
    t.match(row(view, name).result, { loaded: ["c1", "c2"], unchanged: ["b1", "b2"] }, name);
  }
  for (const name of ["c1", "c2"]) t.match(row(view, name).result, { loaded: ["a1", "a2"] }, name);
  for (const name of ["b1", "b2"]) t.equal(row(view, name).outcome, "unchanged", name);

  const after = await settledSas();
  t.same([...after.keys()].sort(), MESH, "every tunnel end has its SAs");
  for (const [end, was] of before) {
    const now = after.get(end);
    if (/^(a.\/b.|b.\/a.)$/.test(end)) {
      t.same(now, was, `${end}: untouched, the same IKE and CHILD SAs`);
    } else {
      // A CHILD_SA's traffic selectors are fixed when it is negotiated: new subnets take a
      // new one. The IKE_SA stays, so the tunnel is not torn down and authenticated again.
      t.same(now?.ike, was.ike, `${end}: the same IKE SAs`);
    }
  }
  const sas = nsExec(lab.ns("a1"), "swanctl", [
    ...["--list-sas", "--ike", "c1", "--uri", `unix://${join(dir, "a1", "charon.vici")}`],
  ]);
  t.match(sas, /remote 10\.3\.0\.0\/16 10\.13\.0\.0\/16/, "a1's CHILD_SA to c1 carries both");
});

t.test(
  "a VPC added to the fleet: its tunnels come up, every other tunnel keeps its SAs",
  async (t) => {
    // Take VPC c out of the fleet first: a's tunnels to it go, c's agents are left alone.
    await writeFleet({ withC: false });
    const removed = await apply();
    t.equal(removed.code, 0, removed.stderr);
    for (const name of ["a1", "a2"])
      t.match(row(removed.view, name).result, { unloaded: ["c1", "c2"] }, name);
    t.notOk(row(removed.view, "c1"), "c's appliances are no longer the fleet's to configure");
    const ab = (sas: Map<string, unknown>) =>
      [...sas].filter(([end]) => /^(a.\/b.|b.\/a.)$/.test(end));
    await waitFor(
      "a's tunnels to c gone",
      async () => [...(await tunnels()).keys()].every((end) => !/^a.\/c./.test(end)),
      30_000,
    );
    const before = ab(charonSas());
    t.equal(before.length, 8, "the a-b mesh, 8 ends");

    // Back as the CIDR test left it, so that c's own agents have nothing to change.
    await writeFleet({ cCidrs: ["10.3.0.0/16", "10.13.0.0/16"] });
    const added = await apply();
    t.equal(added.code, 0, added.stderr);
    for (const name of ["a1", "a2"])
      t.match(
        row(added.view, name).result,
        { loaded: ["c1", "c2"], unchanged: ["b1", "b2"] },
        name,
      );
    const after = await settledSas();
    t.same([...after.keys()].sort(), MESH, "the new tunnels to c are up with the rest");
    t.same(ab(after), before, "every a-b tunnel end keeps its IKE and CHILD SAs");
    for (const name of ["c1", "c2"]) t.equal(row(added.view, name).outcome, "unchanged", name);
  },
);

t.test("a config an agent refuses leaves it on its old config; the others apply", async (t) => {
  const old = { a2: await file("a2"), c2: await file("c2") };
  const sas = await settledSas();
  // The key a2 and c2 share now fails the agents' rules; c's CIDR goes back to one.
  await putKey("a2", "c2", "short");
  await writeFleet();
  const { code, view } = await apply();
  t.equal(code, 1, "exit 1");
  for (const [name, tunnel] of [
    ["a2", 3],
    ["c2", 1],
  ] as const) {
    t.match(row(view, name), {
      outcome: "refused",
      issues: [{ path: `tunnels[${tunnel}].psk.ssm`, rule: "psk-length" }],
    });
    t.equal(await file(name), old[name], `${name}'s file is as it was`);
    t.equal(await client(name).config(), old[name], `${name} runs its old config`);
  }
  t.same(charonSas().get("a2/c2"), sas.get("a2/c2"), "the tunnel between them keeps its SAs");
  for (const name of ["a1", "c1"]) t.equal(row(view, name).outcome, "applied", name);
  t.equal(await file("a1"), (await rendered()).get("a1"), "a1 runs the new config");

  const text = await swanpair("agents", "apply", "--config", fleetFile);
  t.equal(text.code, 1);
  t.match(text.stderr, /^agents apply: not ok: not applied: a2 \(refused\), c2 \(refused\)$/m);
  t.match(
    text.stdout,
    /^a2\s+refused: the configuration is invalid \(1 error\); neither the file nor the running config changed$/m,
  );
  t.match(
    text.stdout,
    /^a2: tunnels\[3\]\.psk\.ssm: .*\[psk-length\]$/m,
    "each issue, with its path",
  );
  t.match(text.stdout, /^b1\s+unchanged\s+\d+\s+-\s+-\s+2$/m);
});
