import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { GetParametersCommand, SSMClient } from "@aws-sdk/client-ssm";
import t from "tap";
import { stringify } from "yaml";
import { ApiClient } from "../../common/agent-api/client.ts";
import { pskParameterName } from "../../common/psk-names.ts";
import type { RotateReport } from "../../control-plane/src/keys/rotate.ts";
import { AGENT_BIN, waitFor } from "../helpers/agent-lab.ts";
import { makeTestPki } from "../helpers/certs.ts";
import { startCharon } from "../helpers/charon.ts";
import { createMeshLab } from "../helpers/mesh-lab.ts";
import { startMoto } from "../helpers/moto.ts";
import { nsExec, nsSpawn, stopChild } from "../helpers/netns.ts";
import { bridgeIntoNetns } from "../helpers/ns-bridge.ts";
import { swanpair } from "../helpers/swanpair-bin.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * `swanpair psk ensure` and `swanpair psk rotate` with real agents: two pairs of appliances in
 * four network namespaces, a full mesh of four tunnels between them, every key in moto's SSM.
 * ensure is idempotent; rotate writes new keys, has the four agents reload, and reports each
 * tunnel up again with its gap; afterwards both ends of every tunnel hold the new key (every
 * IKE_SA, torn down, comes back), and a charon with the old key is refused while one with the
 * new key is let in. An agent that cannot be reached makes rotate exit 1.
 */

const REGION = "eu-west-1";
const PREFIX = "/swanpair/lab";
const moto = await startMoto(t);
const ssm = new SSMClient({ region: REGION, endpoint: moto.endpoint });
t.teardown(() => ssm.destroy());
const dir = await tempDir(t, "swp-rot-");

interface Node {
  name: string;
  net: 1 | 2;
  public: string;
  private: string;
}
const NODES: Node[] = [
  { name: "a1", net: 1, public: "198.18.0.11", private: "10.1.0.11" },
  { name: "a2", net: 1, public: "198.18.0.12", private: "10.1.0.12" },
  { name: "b1", net: 2, public: "198.18.0.21", private: "10.2.0.21" },
  { name: "b2", net: 2, public: "198.18.0.22", private: "10.2.0.22" },
];
const node = (name: string) => NODES.find((n) => n.name === name) as Node;
const far = (me: Node) => NODES.filter((n) => n.net !== me.net);

// As on EC2: charon binds the private address; the public one is 1:1 NAT in front of it.
const mesh = createMeshLab("swp-rot", NODES);
const agents = new Map<string, ChildProcess>();
t.teardown(async () => {
  if (!t.passing()) {
    for (const n of NODES) {
      const log = await readFile(join(dir, `${n.name}.log`), "utf8").catch(() => "");
      t.comment(`agent ${n.name} log (tail):\n${log.split("\n").slice(-25).join("\n")}`);
    }
  }
  for (const child of agents.values()) await stopChild(child);
  mesh.cleanup();
});
await bridgeIntoNetns(
  t,
  dir,
  Number(new URL(moto.endpoint).port),
  NODES.map((n) => mesh.ns(n.name)),
);

const socket = (name: string) => join(dir, name, "agent.sock");

/** Each appliance's tunnel to a far appliance is named after it, its key in SSM (fleet-config.md). */
function agentConfig(me: Node) {
  return {
    appliance: { name: me.name, localAddress: me.private, publicAddress: me.public },
    datapath: "libipsec",
    charon: { mode: "child" },
    stateDir: join(dir, me.name),
    api: { socket: socket(me.name) },
    log: { level: "debug" },
    ssm: { region: REGION, endpoint: moto.endpoint },
    tunnels: far(me).map((peer, i) => ({
      name: peer.name,
      type: "peer",
      remoteAddress: peer.public,
      psk: { ssm: pskParameterName(PREFIX, me.name, peer.name) },
      localSubnets: [`10.${me.net}.0.0/16`],
      remoteSubnets: [`10.${peer.net}.0.0/16`],
      priority: 10 + i,
      probe: { source: me.private, target: peer.private, intervalMs: 100, fall: 3, rise: 2 },
    })),
  };
}

function startAgent(me: Node) {
  const log = createWriteStream(join(dir, `${me.name}.log`), { flags: "a" });
  const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}` };
  const child = nsSpawn(
    mesh.ns(me.name),
    AGENT_BIN,
    ["run", "--config", join(dir, `${me.name}.yaml`)],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env,
    },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  agents.set(me.name, child);
}

const FLEET = {
  region: REGION,
  tag: { key: "swanpair:fleet", value: "lab" },
  keys: { ssm: { endpoint: moto.endpoint } },
  vpcs: [
    { name: "va", id: "vpc-0a", cidrs: ["10.1.0.0/16"], routeTables: ["rtb-0a"] },
    { name: "vb", id: "vpc-0b", cidrs: ["10.2.0.0/16"], routeTables: ["rtb-0b"] },
  ],
  appliances: NODES.map((n, i) => ({
    name: n.name,
    vpc: n.net === 1 ? "va" : "vb",
    instanceId: `i-0${i}`,
    eni: `eni-0${i}`,
    agent: `unix://${socket(n.name)}`,
  })),
  pairs: [
    { name: "pa", members: ["a1", "a2"] },
    { name: "pb", members: ["b1", "b2"] },
  ],
  connections: [{ name: "ab", between: ["pa", "pb"] }],
};
const fleetFile = join(dir, "fleet.yaml");
await writeFile(fleetFile, stringify(FLEET));

const PARAMETERS = ["a1/b1", "a1/b2", "a2/b1", "a2/b2"].map((p) => `${PREFIX}/psk/${p}`);

/** The keys as SSM holds them now, by parameter, with their versions. */
async function keysInSsm() {
  const out = await ssm.send(new GetParametersCommand({ Names: PARAMETERS, WithDecryption: true }));
  return new Map(
    (out.Parameters ?? []).map((p) => [p.Name, { value: p.Value, version: p.Version }]),
  );
}

const tunnelUp = async (me: string, peer: string) =>
  (await new ApiClient({ socketPath: socket(me) }, { timeoutMs: 2000 })
    .status()
    .then((s) => s.tunnels.find((x) => x.name === peer)?.state)
    .catch(() => undefined)) === "up";

/** The IKE_SA each end's agent reports per tunnel ("a1>b1": on a1, the tunnel to b1). */
async function ikeIds() {
  const ids = new Map<string, string | undefined>();
  for (const me of NODES) {
    const status = await new ApiClient({ socketPath: socket(me.name) }).status();
    for (const tunnel of status.tunnels) ids.set(`${me.name}>${tunnel.name}`, tunnel.ike?.uniqueId);
  }
  return ids;
}

async function meshUp() {
  for (const me of NODES)
    for (const peer of far(me)) if (!(await tunnelUp(me.name, peer.name))) return false;
  return true;
}

t.test("psk ensure creates the mesh's four keys once, and keeps them after", async (t) => {
  const first = await swanpair("psk", "ensure", "--config", fleetFile, "--json");
  t.equal(first.code, 0, first.stderr);
  const created = JSON.parse(first.stdout);
  t.equal(created.prefix, PREFIX, "the default prefix, from the fleet tag");
  t.same(
    created.keys.map((k: { parameter: string; result: string }) => [k.parameter, k.result]).sort(),
    PARAMETERS.map((p) => [p, "created"]),
  );
  const before = await keysInSsm();
  t.equal(before.size, 4);
  for (const [name, k] of before)
    t.match(k.value, /^0s[A-Za-z0-9+/]{43}=$/, `${name}: 32 bytes, 0s`);

  const again = await swanpair("psk", "ensure", "--config", fleetFile);
  t.equal(again.code, 0, again.stderr);
  t.match(again.stdout, /0 created, 4 kept/);
  t.same(await keysInSsm(), before, "same values, same versions");
  for (const k of before.values()) {
    t.notOk(
      `${first.stdout}${again.stdout}${again.stderr}`.includes(k.value ?? "?"),
      "no key printed",
    );
  }
});

t.test("four real agents bring the mesh up on keys from SSM", async (t) => {
  for (const n of NODES) await writeFile(join(dir, `${n.name}.yaml`), stringify(agentConfig(n)));
  for (const n of NODES) startAgent(n);
  await waitFor("all four tunnels up on both ends", meshUp, 60_000, 200);
  t.pass("up");
});

/** A ping every 20 ms from a1 to b1 through their tunnel, until stopped: how much got through. */
function pingLoop() {
  const child = spawn(
    "ip",
    [
      "netns",
      "exec",
      mesh.ns("a1"),
      "ping",
      "-n",
      "-i",
      "0.02",
      "-I",
      node("a1").private,
      node("b1").private,
    ],
    { stdio: ["ignore", "pipe", "ignore"] },
  );
  let out = "";
  child.stdout.on("data", (c: Buffer) => {
    out += c.toString();
  });
  return {
    async stop() {
      const done = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGINT");
      await done;
      const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
      return { sent: Number(m?.[1]), received: Number(m?.[2]) };
    },
  };
}

let oldKeys = new Map<string | undefined, { value?: string; version?: number }>();

t.test("psk rotate: new keys, every agent reloaded, every tunnel up, gaps reported", async (t) => {
  oldKeys = await keysInSsm();
  const ping = pingLoop();
  const started = Date.now();
  const r = await swanpair("psk", "rotate", "ab", "--config", fleetFile, "--json");
  const tookMs = Date.now() - started;
  const traffic = await ping.stop();
  t.equal(r.code, 0, r.stdout);
  const report: RotateReport = JSON.parse(r.stdout);
  t.equal(report.ok, true);
  t.same(
    report.keys.map((k) => [k.parameter, k.version]).sort(),
    PARAMETERS.map((p) => [p, 2]),
    "each key rewritten once: version 2",
  );
  t.same(
    report.agents.map((a) => [a.appliance, a.result]),
    NODES.map((n) => [n.name, "reloaded"]),
  );
  t.equal(report.tunnels.length, 4);
  for (const tunnel of report.tunnels) {
    t.equal(tunnel.state, "up", `${tunnel.appliances.join("⇄")} up`);
    t.type(tunnel.gapMs, "number", "with its gap");
  }
  const now = await keysInSsm();
  for (const p of PARAMETERS) t.not(now.get(p)?.value, oldKeys.get(p)?.value, `${p}: a new key`);
  const lost = traffic.sent - traffic.received;
  t.comment(
    `rotate took ${tookMs} ms; gaps ${report.tunnels.map((x) => `${x.appliances.join("⇄")} ${x.gapMs} ms`).join(", ")}; ping a1→b1 every 20 ms: ${traffic.sent} sent, ${lost} lost`,
  );
  t.ok(traffic.sent > 0, "the ping ran");
  const a1b1 = report.tunnels.find((x) => x.appliances.join() === "a1,b1");
  t.ok(lost * 20 <= (a1b1?.gapMs ?? 0) + 100, "the ping lost no more than the reported gap");
  for (const k of [...now.values(), ...oldKeys.values()]) {
    t.notOk(
      r.stdout.includes(k.value ?? "?") || r.stderr.includes(k.value ?? "?"),
      "no key printed",
    );
  }

  const human = await swanpair("psk", "rotate", "ab", "--config", fleetFile);
  t.equal(human.code, 0, human.stderr);
  t.match(human.stdout, /^ab: 4 key\(s\) rotated$/m);
  t.match(human.stdout, /^PARAMETER\s+TUNNEL\s+VERSION$/m);
  t.match(human.stdout, /^a1\s+reloaded \(generation \d+\)$/m);
  t.match(human.stdout, /^TUNNEL\s+STATE\s+GAP\s+DOWN$/m);
  t.match(human.stdout, /^a1 ⇄ b1\s+up\s+0 ms\s+-$/m);
});

t.test("a tunnel down during a rotation is waited for, and its gap reported", async (t) => {
  // b2 drops everything from a1 for 2.5 s: that tunnel's probes fail, then pass again.
  const rule = ["INPUT", "-s", node("a1").public, "-j", "DROP"];
  nsExec(mesh.ns("b2"), "iptables", ["-I", ...rule]);
  let unblockedAt = 0;
  const unblock = () => {
    if (unblockedAt === 0) nsExec(mesh.ns("b2"), "iptables", ["-D", ...rule]);
    unblockedAt ||= Date.now();
  };
  t.teardown(unblock);
  const timer = setTimeout(unblock, 2500);
  oldKeys = await keysInSsm();
  const r = await swanpair("psk", "rotate", "ab", "--config", fleetFile, "--json");
  clearTimeout(timer);
  t.equal(r.code, 0, r.stdout);
  t.ok(unblockedAt > 0, "the command waited for the tunnel to come back");
  const report: RotateReport = JSON.parse(r.stdout);
  const [cut, ...others] = [
    report.tunnels.find((x) => x.appliances.join() === "a1,b2"),
    ...report.tunnels.filter((x) => x.appliances.join() !== "a1,b2"),
  ];
  t.equal(cut?.down.length, 1, "one down stretch");
  const stretch = cut?.down[0];
  const [from, to] = [Date.parse(stretch?.from ?? ""), Date.parse(stretch?.to ?? "")];
  t.ok(from <= unblockedAt && to >= unblockedAt, "seen down during the outage, up after it");
  t.equal(cut?.gapMs, to - from, "the gap is that stretch");
  t.ok((cut?.gapMs ?? 0) <= 5000, `a gap of ${cut?.gapMs} ms for a 2500 ms outage`);
  t.ok(
    others.every((x) => x.state === "up" && x.gapMs === 0 && x.down.length === 0),
    "the others were never down",
  );
});

t.test("both ends hold the new key: every IKE_SA torn down comes back", async (t) => {
  const before = await ikeIds();
  const started = Date.now();
  for (const me of ["a1", "a2"]) {
    for (const peer of ["b1", "b2"]) {
      const vici = `unix://${join(dir, me, "charon.vici")}`;
      execFileSync(
        "ip",
        ["netns", "exec", mesh.ns(me), "swanctl", "--terminate", "--ike", peer, "--uri", vici],
        {
          stdio: "ignore",
        },
      );
    }
  }
  // New IKE_SAs authenticate both ends afresh, with the keys each end holds now.
  await waitFor(
    "every end up on a new IKE_SA",
    async () => {
      const now = await ikeIds();
      return (
        [...now].every(([end, id]) => id !== undefined && id !== before.get(end)) &&
        (await meshUp())
      );
    },
    60_000,
    50,
  );
  t.comment(
    `new IKE_SAs, new keys: every tunnel up again ${Date.now() - started} ms after the teardown`,
  );
  t.pass("every pair of ends authenticated each other with the new key");
});

/** A hand-written charon in b2's namespace, as a peer of a1 with `secret` (swanctl.conf text). */
async function plainB2(secret: string) {
  const d = join(dir, "plain-b2");
  await mkdir(d, { recursive: true });
  const vici = join(d, "charon.vici");
  const confPath = join(d, "strongswan.conf");
  // The interop test's hand-written strongswan.conf: the plugins a plain charon needs.
  const conf = await readFile(
    join(import.meta.dirname, "../fixtures/interop/strongswan.conf"),
    "utf8",
  );
  await writeFile(confPath, conf.replaceAll("@DIR@", d));
  const swanctlConf = join(d, "swanctl.conf");
  const write = (key: string) =>
    writeFile(
      swanctlConf,
      `connections {
  to-a1 {
    version = 2
    local_addrs = ${node("b2").private}
    remote_addrs = ${node("a1").public}
    proposals = aes256gcm16-prfsha384-x25519
    local { auth = psk
      id = ${node("b2").public} }
    remote { auth = psk
      id = ${node("a1").public} }
    children { lan { local_ts = 10.2.0.0/16
        remote_ts = 10.1.0.0/16
        esp_proposals = aes256gcm16-x25519 } }
  }
}
secrets { ike-a1 { id-a = ${node("a1").public}
    id-b = ${node("b2").public}
    secret = "${key}" } }
`,
      { mode: 0o600 },
    );
  await write(secret);
  const charon = await startCharon({ ns: mesh.ns("b2"), confPath, viciSocket: vici });
  t.teardown(() => charon.stop());
  /** swanctl against the plain charon: whether it succeeded, and what it said. */
  const swanctl = (...args: string[]) => {
    try {
      const out = execFileSync(
        "ip",
        ["netns", "exec", mesh.ns("b2"), "swanctl", ...args, "--uri", `unix://${vici}`],
        { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
      );
      return { ok: true, out };
    } catch (error) {
      const e = error as { stdout?: string; stderr?: string };
      return { ok: false, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
    }
  };
  swanctl("--load-all", "--file", swanctlConf);
  return {
    swanctl,
    async rekey(key: string) {
      await write(key);
      return swanctl("--load-all", "--file", swanctlConf).ok;
    },
    stop: () => charon.stop(),
  };
}

t.test("the old key no longer authenticates against a1; the new one does", async (t) => {
  const parameter = `${PREFIX}/psk/a1/b2`;
  const previous = oldKeys.get(parameter)?.value as string;
  const current = (await keysInSsm()).get(parameter)?.value as string;
  await stopChild(agents.get("b2"));
  agents.delete("b2");
  const plain = await plainB2(previous);
  const refused = plain.swanctl("--initiate", "--child", "lan", "--timeout", "10");
  t.notOk(refused.ok, "old key: refused");
  t.match(refused.out, /received AUTHENTICATION_FAILED notify error/, "by a1, for its key");
  t.notOk(await tunnelUp("a1", "b2"), "a1 does not take it either way");
  t.ok(await plain.rekey(current), "the plain charon gets the new key");
  const accepted = plain.swanctl("--initiate", "--child", "lan", "--timeout", "10");
  t.ok(accepted.ok, "new key: let in");
  t.match(accepted.out, /CHILD_SA lan\{\d+\} established/);
  await plain.stop();
});

t.test("an agent that cannot be reached is reported, and rotate exits 1", async (t) => {
  // b2's agent is stopped (above).
  const r = await swanpair(
    "psk",
    "rotate",
    "ab",
    "--config",
    fleetFile,
    "--json",
    "--timeout",
    "20",
  );
  t.equal(r.code, 1);
  const report: RotateReport = JSON.parse(r.stdout);
  t.equal(report.ok, false);
  t.match(
    report.agents.find((a) => a.appliance === "b2"),
    { result: "unreachable", error: /b2/ },
  );
  const byPair = new Map(report.tunnels.map((x) => [x.appliances.join(), x]));
  t.match(byPair.get("a1,b2"), { state: "unknown", note: "b2 did not answer" });
  t.match(byPair.get("a1,b1"), { state: "up" }, "the others rotate as ever");
  const human = await swanpair("psk", "rotate", "ab", "--config", fleetFile, "--timeout", "20");
  t.equal(human.code, 1);
  t.match(human.stderr, /psk rotate: not ok: .*b2 unreachable/);
});

t.test("over HTTPS a read-only certificate is refused before any key is written", async (t) => {
  const pki = await makeTestPki(await tempDir(t, "swp-rotpki-"));
  const https = {
    ...FLEET,
    tls: pki.client,
    appliances: FLEET.appliances.map((a, i) => ({ ...a, agent: `https://127.0.0.1:${7440 + i}` })),
  };
  const file = join(dir, "fleet-https.yaml");
  await writeFile(file, stringify(https));
  const before = await keysInSsm();
  const r = await swanpair("psk", "rotate", "ab", "--config", file, "--json");
  t.equal(r.code, 2);
  t.match(JSON.parse(r.stdout).error.message, /may only read .*--tls-cert FILE --tls-key FILE/);
  t.same(await keysInSsm(), before, "SSM untouched");
  const operator = await swanpair(
    "psk",
    "rotate",
    "ab",
    "--config",
    file,
    "--json",
    "--timeout",
    "1",
    "--tls-cert",
    pki.operatorClient.cert,
    "--tls-key",
    pki.operatorClient.key,
  );
  t.equal(operator.code, 1, "an operator's certificate passes; nothing listens there");
  t.ok(
    JSON.parse(operator.stdout).agents.every((a: { result: string }) => a.result === "unreachable"),
  );
});
