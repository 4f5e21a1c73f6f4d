import { type ChildProcess, execFile } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { stringify } from "yaml";
import { CARRIER_ACTION_GAP_MS } from "../../agent/src/carrier/steer.ts";
import { ApiClient } from "../../common/agent-api/client.ts";
import type { TunnelStatus } from "../../common/agent-api/status.ts";
import { AGENT_BIN, PSK, waitFor } from "../helpers/agent-lab.ts";
import { createMeshLab } from "../helpers/mesh-lab.ts";
import { nsExec, nsSpawn, stopChild } from "../helpers/netns.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * Decision 0017 with real parts: appliance a has a tunnel to each of b1 (preferred) and b2,
 * with identical selectors, real agents and charon (libipsec) in namespaces behind 1:1 NAT.
 * A host address both b1 and b2 own (FAR) tells by which namespace receives a's pings which
 * tunnel carries. The agent keeps b1 carrying whatever came up last, moves the traffic to b2
 * when b1's probe falls, and back once it rises, without losing a packet.
 */
const run = promisify(execFile);
const NODES = [
  { name: "a", public: "198.18.97.10", private: "10.1.0.11" },
  { name: "b1", public: "198.18.97.20", private: "10.2.0.11" },
  { name: "b2", public: "198.18.97.21", private: "10.2.0.12" },
];
type Far = "b1" | "b2";
/** A host behind a, and one behind b's pair that both b1 and b2 answer for. */
const NEAR = "10.1.0.100";
const FAR = "10.2.0.100";
const PROBE = { intervalMs: 200, fall: 2, rise: 2 };

const dir = await tempDir(t, "swp-carrier-");
const lab = createMeshLab("swp-carrier", NODES);
const agents = new Map<string, ChildProcess>();
t.teardown(async () => {
  if (!t.passing()) {
    const log = await readFile(join(dir, "a.log"), "utf8").catch(() => "");
    t.comment(`agent a (tail):\n${log.split("\n").slice(-40).join("\n")}`);
  }
  for (const agent of agents.values()) await stopChild(agent);
  // A charon whose agent died without stopping it still holds its namespace.
  for (const { name } of NODES) {
    const pid = Number(await readFile(join(dir, name, "charon.pid"), "utf8").catch(() => ""));
    try {
      if (pid > 1) process.kill(pid, "SIGKILL");
    } catch {
      // gone with its agent
    }
  }
  lab.cleanup();
});
nsExec(lab.ns("a"), "ip", ["addr", "add", `${NEAR}/32`, "dev", "lo"]);
for (const far of ["b1", "b2"])
  nsExec(lab.ns(far), "ip", ["addr", "add", `${FAR}/32`, "dev", "lo"]);
await writeFile(join(dir, "psk"), `${PSK}\n`, { mode: 0o600 });

const node = (name: string) => NODES.find((n) => n.name === name) as (typeof NODES)[number];
const socket = (name: string) => join(dir, name, "agent.sock");

/** A tunnel of `from`'s config, named after the far end `to`, as the fleet renders them. */
function tunnel(from: string, to: string, priority: number) {
  const [mine, theirs] =
    from === "a" ? ["10.1.0.0/16", "10.2.0.0/16"] : ["10.2.0.0/16", "10.1.0.0/16"];
  return {
    name: to,
    type: "peer",
    remoteAddress: node(to).public,
    psk: { file: join(dir, "psk") },
    localSubnets: [mine],
    remoteSubnets: [theirs],
    priority,
    probe: { source: node(from).private, target: node(to).private, ...PROBE },
  };
}

async function startAgent(name: string, tunnels: ReturnType<typeof tunnel>[]) {
  await mkdir(join(dir, name), { recursive: true, mode: 0o700 });
  const config = {
    appliance: { name, localAddress: node(name).private, publicAddress: node(name).public },
    datapath: "libipsec",
    charon: { mode: "child" },
    stateDir: join(dir, name),
    api: { socket: socket(name) },
    log: { level: "info" },
    tunnels,
  };
  await writeFile(join(dir, `${name}.yaml`), stringify(config));
  const log = createWriteStream(join(dir, `${name}.log`));
  const agent = nsSpawn(lab.ns(name), process.execPath, [
    AGENT_BIN,
    "run",
    "--config",
    join(dir, `${name}.yaml`),
  ]);
  agent.stdout?.pipe(log);
  agent.stderr?.pipe(log);
  agents.set(name, agent);
}

const api = new ApiClient({ socketPath: socket("a") }, { timeoutMs: 3000 });
async function tunnelsOfA(): Promise<Record<Far, TunnelStatus | undefined>> {
  const tunnels = (await api.status().catch(() => null))?.tunnels ?? [];
  return { b1: tunnels.find((x) => x.name === "b1"), b2: tunnels.find((x) => x.name === "b2") };
}

/** Echo requests a far namespace has received: its own /proc/net/snmp. */
function echoes(): Record<Far, number> {
  const count = (far: Far) => {
    const [keys = "", values = ""] = nsExec(lab.ns(far), "cat", ["/proc/net/snmp"])
      .split("\n")
      .filter((l) => l.startsWith("Icmp:"));
    return Number(values.split(/\s+/)[keys.split(/\s+/).indexOf("InEchos")]);
  };
  return { b1: count("b1"), b2: count("b2") };
}

/** Pings FAR from NEAR through a's tunnels; resolves with ping's own tally. */
async function ping(count: number, intervalS: number) {
  const args = ["-q", "-n", "-c", String(count), "-i", String(intervalS), "-W", "1", "-I", NEAR];
  const out = await run("ip", ["netns", "exec", lab.ns("a"), "ping", ...args, FAR]).then(
    (r) => r.stdout,
    (e: { stdout?: string }) => e.stdout ?? "",
  );
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  return { sent: Number(m?.[1]), received: Number(m?.[2]) };
}

/** Which far namespaces received how many of `count` pings. */
async function received(count: number, intervalS: number) {
  const before = echoes();
  const tally = await ping(count, intervalS);
  const after = echoes();
  return { ...tally, b1: after.b1 - before.b1, b2: after.b2 - before.b2 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until a's agent started no carrier action for the rate limit's gap: timings are clean. */
async function quiet() {
  await waitFor(
    "a's carrier actions quiet",
    async () => {
      const actions = (await readFile(join(dir, "a.log"), "utf8"))
        .split("\n")
        .filter((l) => l.includes('"component":"carrier","group"') && l.includes('"kind"'));
      const last = Date.parse(JSON.parse(actions.at(-1) ?? '{"time":0}').time);
      return Date.now() - last > CARRIER_ACTION_GAP_MS;
    },
    20_000,
    100,
  );
}
const link = (far: Far, state: "up" | "down") =>
  nsExec(lab.ns(far), "ip", ["link", "set", "eth0", state]);

t.test("b1 carries although b2's tunnel came up last", async (t) => {
  await startAgent("a", [tunnel("a", "b1", 100), tunnel("a", "b2", 200)]);
  await startAgent("b1", [tunnel("b1", "a", 100)]);
  await waitFor("a's tunnel to b1 up", async () => (await tunnelsOfA()).b1?.state === "up");
  await startAgent("b2", [tunnel("b2", "a", 100)]);
  const { b1, b2 } = await waitFor("b2 up, and b1 the carrier again", async () => {
    const x = await tunnelsOfA();
    return x.b2?.state === "up" && x.b1?.group?.carrier === "b1" && x;
  });
  t.same(b1?.group, { members: ["b1", "b2"], carrier: "b1", wanted: "b1" });
  t.same(b2?.group, b1?.group, "both members report the group");
  const rekeys = (await readFile(join(dir, "a.log"), "utf8"))
    .split("\n")
    .filter((l) => l.includes('"kind":"rekey"') && l.includes('"tunnel":"b1"'));
  t.ok(rekeys.length > 0, "the agent rekeyed b1's CHILD_SA to make it carry");
  t.same(await received(20, 0.02), { sent: 20, received: 20, b1: 20, b2: 0 });

  // Installs within one second are a tie the agent settles with one more rekey (decision
  // 0017): until then the table shows the carrier as unknown ("- -> b1").
  const status = await waitFor("the status table to name b1 as the carrier", async () => {
    const r = await run(process.execPath, [AGENT_BIN, "status", "--socket", socket("a")]);
    return /^b2 +up .* INSTALLED +b1 /m.test(r.stdout) && r;
  });
  t.match(status.stdout, /^NAME +STATE +REMOTE +IKE +CHILD +CARRIER /m);
});

t.test("b1's link down: traffic moves to b2 within fall x interval and a margin", async (t) => {
  await quiet();
  const budgetMs = PROBE.fall * PROBE.intervalMs + 1500;
  const before = echoes();
  const stream = ping(Math.ceil(budgetMs / 10) + 100, 0.01);
  const downAt = Date.now();
  link("b1", "down");
  await waitFor("b2 receiving the pings", () => echoes().b2 > before.b2, budgetMs + 2000, 20);
  const switchMs = Date.now() - downAt;
  t.comment(`traffic reached b2 ${switchMs} ms after b1's link went down`);
  t.ok(switchMs <= budgetMs, `within ${budgetMs} ms`);
  await stream;
  const { b1, b2 } = await tunnelsOfA();
  t.equal(b1?.probe.state, "down");
  t.match(b2?.group, { carrier: "b2", wanted: "b2" });
  t.same(await received(10, 0.02), { sent: 10, received: 10, b1: 0, b2: 10 });
});

t.test("b1 back: traffic returns to b1 and a steady stream loses nothing", async (t) => {
  await quiet();
  const before = echoes();
  const stream = ping(500, 0.01);
  await sleep(300);
  const upAt = Date.now();
  link("b1", "up");
  await waitFor("b1 the carrier again, and wanted", async () => {
    const { carrier, wanted } = (await tunnelsOfA()).b1?.group ?? {};
    return carrier === "b1" && wanted === "b1";
  });
  t.comment(`b1 carried again ${Date.now() - upAt} ms after its link came up`);
  const { sent, received: answered } = await stream;
  const after = echoes();
  const got = { b1: after.b1 - before.b1, b2: after.b2 - before.b2 };
  t.comment(`${sent} pings: ${got.b2} reached b2, then ${got.b1} b1`);
  t.equal(sent, 500);
  t.equal(got.b1 + got.b2, sent, "every request reached b1 or b2");
  t.equal(answered, sent, "every request was answered");
  t.ok(got.b1 > 0 && got.b2 > 0, "the stream moved from b2 to b1");
  t.same(await received(10, 0.02), { sent: 10, received: 10, b1: 10, b2: 0 });
});

t.test(
  "b2 crashes and comes back: a starts its CHILD_SA, and a stream loses nothing",
  async (t) => {
    // charon installs a new CHILD_SA before it answers; had b2 started it, a (which sends) would
    // send into it before b2 could receive (decision 0017, "Which end starts").
    await quiet();
    const before = echoes();
    const stream = ping(800, 0.01);
    await sleep(300);
    const charon = Number(await readFile(join(dir, "b2", "charon.pid"), "utf8"));
    await stopChild(agents.get("b2"), "SIGKILL");
    process.kill(charon, "SIGKILL");
    const restartedAt = new Date().toISOString();
    await startAgent("b2", [tunnel("b2", "a", 100)]);
    const b2 = await waitFor("b2's new IKE_SA and CHILD_SA at a", async () => {
      const x = (await tunnelsOfA()).b2;
      return x?.state === "up" && x.ike?.initiator === false && x;
    });
    t.equal(b2.ike?.initiator, false, "b2 made the IKE_SA");
    // The log reaches its file through a pipe: give it a moment.
    const started = await waitFor(
      "a's log of starting b2's CHILD_SA",
      async () => {
        const lines = (await readFile(join(dir, "a.log"), "utf8"))
          .split("\n")
          .filter((l) => l.includes("starting the main CHILD_SA") && l.includes('"tunnel":"b2"'))
          .filter((l) => JSON.parse(l).time > restartedAt);
        return lines.length > 0 && lines;
      },
      3000,
    ).catch(() => []);
    t.match(started, [/the far end made the IKE_SA without it/], "a's agent started its CHILD_SA");
    const { sent, received: answered } = await stream;
    const after = echoes();
    t.comment(`${sent} pings: ${after.b1 - before.b1} reached b1, ${after.b2 - before.b2} b2`);
    t.equal(after.b1 - before.b1 + after.b2 - before.b2, sent, "every request reached b1 or b2");
    t.equal(answered, sent, "every request was answered");
  },
);
