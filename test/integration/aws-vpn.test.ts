import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import t, { type Test } from "tap";
import { stringify } from "yaml";
import { ApiClient } from "../../common/agent-api/client.ts";
import type { AgentStatus, TunnelStatus } from "../../common/agent-api/status.ts";
import { toEntry } from "../../common/aws-vpn/entry.ts";
import type { AwsVpnConnection, AwsVpnTunnel } from "../../common/aws-vpn/model.ts";
import { Secret } from "../../common/secret.ts";
import { AGENT_BIN, waitFor } from "../helpers/agent-lab.ts";
import { createNetns, deleteNetns, nsExec, stopChild } from "../helpers/netns.ts";
import { startVgwSim, type VgwSim } from "../helpers/vgw-sim.ts";

/**
 * The agent as the customer gateway of an AWS VPN connection, against the VGW simulator
 * (test/helpers/vgw-sim.ts, configured as AWS documents its side), with static routing:
 *
 *   lan host 10.70.1.10 ── cgw (swanpair-agent, libipsec) ══ two tunnels ══ sim ── far 10.99.0.10
 *
 * Both tunnels come up, traffic passes, and when AWS's endpoint of the carrying tunnel dies
 * the agent's ping of it falls and the traffic moves to the other tunnel; the gap is reported.
 */

const PREFIX = "swp-awsv";
const CGW = `${PREFIX}-cgw`;
const LAN = `${PREFIX}-lan`;
const CGW_IP = "198.18.72.1";
const LAN_HOST = "10.70.1.10";
const FAR_HOST = "10.99.0.10";

function tunnel(n: 1 | 2): AwsVpnTunnel {
  const phase = (lifetimeS: number) => ({
    encryption: ["AES256" as const],
    integrity: ["SHA2-256" as const],
    dhGroups: [14],
    lifetimeS,
  });
  return {
    outside: { customerGateway: CGW_IP, vpnGateway: `198.18.72.1${n}` },
    inside: {
      cidr: `169.254.7${n}.0/30`,
      customerGateway: `169.254.7${n}.2`,
      vpnGateway: `169.254.7${n}.1`,
    },
    psk: new Secret(`Aws.tunnel${n}_key_0123456789`),
    ikeVersions: ["ikev1"],
    phase1: phase(28800),
    phase2: phase(3600),
    dpd: { delayS: 10, timeoutS: 30 },
  };
}

const CONNECTION: AwsVpnConnection = {
  vpnConnectionId: "vpn-0a1b2c3d4e5f60718",
  routing: "static",
  tunnels: [tunnel(1), tunnel(2)],
  // AWS's static routes: the customer's prefixes, which AWS routes to this gateway.
  staticRoutes: ["10.70.1.0/24"],
};

const dir = await mkdtemp("/tmp/swp-awsv-");
const socket = join(dir, "agent.sock");
let sim: VgwSim | undefined;
let agent: ChildProcess | undefined;

const ip = (ns: string, ...args: string[]) => nsExec(ns, "ip", args);

t.teardown(async () => {
  await stopChild(agent);
  await sim?.stop();
  deleteNetns(LAN);
  deleteNetns(CGW);
  await rm(dir, { recursive: true, force: true });
});

async function setUp(): Promise<void> {
  createNetns(CGW);
  createNetns(LAN);
  ip(CGW, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", LAN);
  ip(CGW, "address", "add", "10.70.1.1/24", "dev", "lan0");
  ip(CGW, "link", "set", "lan0", "up");
  ip(LAN, "address", "add", `${LAN_HOST}/24`, "dev", "eth0");
  ip(LAN, "link", "set", "eth0", "up");
  ip(LAN, "route", "add", "default", "via", "10.70.1.1");
  nsExec(CGW, "sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
  sim = await startVgwSim({
    prefix: PREFIX,
    connection: CONNECTION,
    uplink: { peerNs: CGW, peerAddress: `${CGW_IP}/24` },
    far: { cidr: "10.99.0.0/16", host: FAR_HOST },
  });
  // The appliance's default route, as on EC2: to the internet, never into the tunnels.
  ip(CGW, "route", "add", "default", "via", "198.18.72.254", "dev", "swpvgw1");
  const pskFiles = await Promise.all(
    CONNECTION.tunnels.map(async (x, i) => {
      const file = join(dir, `tunnel${i + 1}.psk`);
      await writeFile(file, x.psk.reveal(), { mode: 0o600 });
      return file;
    }),
  );
  const entry = {
    ...toEntry(CONNECTION, pskFiles as [string, string]),
    name: "to-aws",
    remotePrefixes: ["10.99.0.0/16"],
    probe: { intervalMs: 200, fall: 3, rise: 2 },
  };
  const config = {
    appliance: { name: "cgw", localAddress: CGW_IP },
    stateDir: join(dir, "state"),
    api: { socket },
    log: { level: "debug" },
    tunnels: [entry],
  };
  const configPath = join(dir, "agent.yaml");
  await writeFile(configPath, stringify(config));
  const log = createWriteStream(join(dir, "agent.log"), { flags: "a" });
  const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}` };
  agent = spawn("ip", ["netns", "exec", CGW, AGENT_BIN, "run", "--config", configPath], {
    stdio: ["ignore", "pipe", "pipe"],
    env,
  });
  agent.stdout?.pipe(log);
  agent.stderr?.pipe(log);
}

const client = new ApiClient({ socketPath: socket }, { timeoutMs: 3000 });
const status = (): Promise<AgentStatus | null> => client.status().catch(() => null);
const tunnels = async () =>
  Object.fromEntries(((await status())?.tunnels ?? []).map((x) => [x.name, x])) as Record<
    string,
    TunnelStatus
  >;

function pingOnce(timeoutS = 1): boolean {
  try {
    nsExec(LAN, "ping", ["-n", "-c", "1", "-W", String(timeoutS), FAR_HOST]);
    return true;
  } catch {
    return false;
  }
}

/** A stream of echoes from the lan host to the far host, 20 per second, with reply times. */
function stream() {
  const replies: number[] = [];
  const child = spawn("ip", ["netns", "exec", LAN, "ping", "-n", "-D", "-i", "0.05", FAR_HOST], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  child.stdout.on("data", (chunk: Buffer) => {
    for (const m of chunk.toString().matchAll(/^\[(\d+\.\d+)\] \d+ bytes from/gm))
      replies.push(Number(m[1]) * 1000);
  });
  return {
    replies,
    stop: () => stopChild(child),
    /** The longest time without a reply, from `since` to the last reply. */
    gapSince(since: number): number {
      const after = [since, ...replies.filter((r) => r > since)];
      return Math.max(0, ...after.slice(1).map((r, i) => r - (after[i] as number)));
    },
  };
}

const carrierOf = async () => (await tunnels())["to-aws-t1"]?.group?.carrier ?? null;

t.test("both tunnels come up against the simulator, and traffic passes", async (t) => {
  await setUp();
  const up = await waitFor(
    "both tunnels up",
    async () => {
      const ts = await tunnels();
      return ts["to-aws-t1"]?.state === "up" && ts["to-aws-t2"]?.state === "up" ? ts : null;
    },
    30_000,
  );
  t.ok(up?.["to-aws-t1"]?.child && up["to-aws-t2"]?.child, "both tunnels have their CHILD_SA");
  const [s1, s2] = (await sim?.sas()) ?? [];
  t.ok(s1?.child && s2?.child, "AWS's side has both CHILD_SAs too");
  t.ok(await waitFor("a ping through", () => pingOnce(), 10_000), "lan host → far host");
  t.match(
    ip(CGW, "route", "get", "8.8.8.8"),
    /dev swpvgw1/,
    "the appliance's own traffic is not captured by 0/0",
  );
  t.match(ip(CGW, "route", "get", FAR_HOST), /dev ipsec0/, "the static prefix is");
});

/** Black-holes AWS's endpoint of the carrying tunnel under a stream; returns the gap in ms. */
async function killCarrier(t: Test): Promise<{ dead: 1 | 2; gap: number }> {
  const carrier = await waitFor("a carrier", carrierOf, 10_000);
  const n = carrier === "to-aws-t2" ? 2 : 1;
  const other = n === 1 ? "to-aws-t2" : "to-aws-t1";
  const s = stream();
  await waitFor("the stream's replies", () => s.replies.length > 10, 5000);
  const fault = Date.now();
  await sim?.blackhole(n);
  const moved = await waitFor(
    "the other carrier",
    async () => (await carrierOf()) === other,
    10_000,
  );
  await new Promise((r) => setTimeout(r, 2000));
  await s.stop();
  const gap = s.gapSince(fault);
  t.comment(
    `tunnel ${n} → tunnel ${3 - n}: the longest time without a reply was ${gap.toFixed(0)} ms`,
  );
  t.ok(moved, `${other} carries now`);
  t.ok(
    s.replies.some((r) => r > Date.now() - 1500),
    "replies come back through the other tunnel",
  );
  t.ok(gap < 3000, `the gap (${gap.toFixed(0)} ms) is under 3 s`);
  t.equal((await tunnels())[carrier]?.state, "down", "the dead tunnel is down");
  return { dead: n, gap };
}

t.test("AWS's endpoint of the carrying tunnel dies: the traffic moves to the other", async (t) => {
  const { dead } = await killCarrier(t);
  // The endpoint comes back, but the CHILD_SA that failed is not trusted until it is remade...
  await sim?.heal(dead);
  await new Promise((r) => setTimeout(r, 1000));
  t.equal(await carrierOf(), dead === 1 ? "to-aws-t2" : "to-aws-t1", "no flap back");
  // ...unless the other tunnel fails too: then it is tried again.
  const second = await killCarrier(t);
  t.equal(second.dead, 3 - dead, "the traffic went back to the healed tunnel");
  await sim?.heal(second.dead);
});

t.test("the log has it", async (t) => {
  const log = await readFile(join(dir, "agent.log"), "utf8");
  t.match(log, /rekeying the wanted carrier/, "the switch was a rekey");
});
