import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { parse, stringify } from "yaml";
import { ApiClient } from "../../common/agent-api/client.ts";
import type { ReloadResult, TunnelStatus } from "../../common/agent-api/status.ts";
import { toEntry } from "../../common/aws-vpn/entry.ts";
import type { AwsVpnConnection, AwsVpnTunnel } from "../../common/aws-vpn/model.ts";
import { Secret } from "../../common/secret.ts";
import { AGENT_BIN, waitFor } from "./agent-lab.ts";
import { createNetns, deleteNetns, nsExec, stopChild } from "./netns.ts";
import { startVgwSim, type VgwSim } from "./vgw-sim.ts";

/**
 * A swanpair appliance as the customer gateway of an AWS VPN connection, against the VGW
 * simulator:
 *
 *   lan host 10.N.1.10 ── cgw (swanpair-agent, libipsec) ══ two tunnels ══ sim ── far 10.99.0.10
 *
 * N and the uplink 198.18.N.0/24 come from `net`, so that test files do not share addresses.
 */

export const FAR_HOST = "10.99.0.10";
export const TUNNELS = ["to-aws-t1", "to-aws-t2"] as const;

export interface CgwLabSpec {
  /** Namespace prefix, unique per test file ("swp-..."). */
  prefix: string;
  /** 72-79: the uplink 198.18.N.0/24, the LAN 10.N.1.0/24, inside /30s 169.254.N.0/30 and .4/30. */
  net: number;
  routing: "static" | "bgp";
  holdTimeS?: number;
}

export interface CgwLab {
  sim: VgwSim;
  cgw: string;
  lan: { ns: string; host: string; cidr: string };
  tunnels(): Promise<Record<string, TunnelStatus>>;
  carrier(): Promise<string | null>;
  /** One echo from the LAN host to the far host. */
  ping(timeoutS?: number): boolean;
  /** A stream of echoes from the LAN host to the far host, 20 a second, with reply times. */
  stream(): EchoStream;
  agentLog(): Promise<string>;
  /** Rewrites the aws-vpn entry in the agent's config file and asks the agent to reload. */
  reload(edit: (entry: Record<string, unknown>) => Record<string, unknown>): Promise<ReloadResult>;
  metrics(): Promise<string>;
  /** The agent's config file. */
  configPath: string;
  stop(): Promise<void>;
}

export interface EchoStream {
  replies: number[];
  stop(): Promise<void>;
  /** The longest time without a reply, from `since` to the last reply. */
  gapSince(since: number): number;
}

function tunnel(spec: CgwLabSpec, n: 1 | 2): AwsVpnTunnel {
  const phase = (lifetimeS: number) => ({
    encryption: ["AES256" as const],
    integrity: ["SHA2-256" as const],
    dhGroups: [14],
    lifetimeS,
  });
  const base = (n - 1) * 4;
  const inside = (host: number) => `169.254.${spec.net}.${base + host}`;
  return {
    outside: { customerGateway: `198.18.${spec.net}.1`, vpnGateway: `198.18.${spec.net}.1${n}` },
    inside: { cidr: `${inside(0)}/30`, customerGateway: inside(2), vpnGateway: inside(1) },
    psk: new Secret(`Aws.tunnel${n}_key_0123456789`),
    ikeVersions: ["ikev1"],
    phase1: phase(28800),
    phase2: phase(3600),
    dpd: { delayS: 10, timeoutS: 30 },
    ...(spec.routing === "bgp" && {
      bgp: { customerGatewayAsn: 65000, vpnGatewayAsn: 64512, holdTimeS: spec.holdTimeS ?? 30 },
    }),
  };
}

export async function startCgwLab(spec: CgwLabSpec): Promise<CgwLab> {
  const cgw = `${spec.prefix}-cgw`;
  const lanNs = `${spec.prefix}-lan`;
  const lan = { ns: lanNs, host: `10.${spec.net}.1.10`, cidr: `10.${spec.net}.1.0/24` };
  const cgwIp = `198.18.${spec.net}.1`;
  const connection: AwsVpnConnection = {
    vpnConnectionId: "vpn-0a1b2c3d4e5f60718",
    routing: spec.routing,
    tunnels: [tunnel(spec, 1), tunnel(spec, 2)],
    // AWS's static routes: the customer's prefixes, which AWS routes to this gateway.
    ...(spec.routing === "static" && { staticRoutes: [lan.cidr] }),
  };
  const dir = await mkdtemp(`/tmp/${spec.prefix}-`);
  const configPath = join(dir, "agent.yaml");
  const socket = join(dir, "agent.sock");
  const ip = (ns: string, ...args: string[]) => nsExec(ns, "ip", args);
  let sim: VgwSim | undefined;
  let agent: ChildProcess | undefined;
  const stop = async () => {
    await stopChild(agent);
    await sim?.stop();
    deleteNetns(lanNs);
    deleteNetns(cgw);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    createNetns(cgw);
    createNetns(lanNs);
    ip(cgw, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", lanNs);
    ip(cgw, "address", "add", `10.${spec.net}.1.1/24`, "dev", "lan0");
    ip(cgw, "link", "set", "lan0", "up");
    ip(lanNs, "address", "add", `${lan.host}/24`, "dev", "eth0");
    ip(lanNs, "link", "set", "eth0", "up");
    ip(lanNs, "route", "add", "default", "via", `10.${spec.net}.1.1`);
    nsExec(cgw, "sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
    sim = await startVgwSim({
      prefix: spec.prefix,
      connection,
      uplink: { peerNs: cgw, peerAddress: `${cgwIp}/24` },
      far: { cidr: "10.99.0.0/16", host: FAR_HOST },
    });
    // The appliance's default route, as on EC2: to the internet, never into the tunnels.
    ip(cgw, "route", "add", "default", "via", `198.18.${spec.net}.254`, "dev", "swpvgw1");
    const pskFiles = await Promise.all(
      connection.tunnels.map(async (x, i) => {
        const file = join(dir, `tunnel${i + 1}.psk`);
        await writeFile(file, x.psk.reveal(), { mode: 0o600 });
        return file;
      }),
    );
    const entry = {
      ...toEntry(connection, pskFiles as [string, string]),
      name: "to-aws",
      ...(spec.routing === "static"
        ? { remotePrefixes: ["10.99.0.0/16"] }
        : { advertise: [lan.cidr] }),
      probe: { intervalMs: 200, fall: 3, rise: 2 },
    };
    const config = {
      appliance: { name: spec.prefix, localAddress: cgwIp },
      stateDir: join(dir, "state"),
      api: { socket },
      log: { level: "debug" },
      tunnels: [entry],
    };
    await writeFile(configPath, stringify(config));
    const log = createWriteStream(join(dir, "agent.log"), { flags: "a" });
    const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}` };
    agent = spawn("ip", ["netns", "exec", cgw, AGENT_BIN, "run", "--config", configPath], {
      stdio: ["ignore", "pipe", "pipe"],
      env,
    });
    agent.stdout?.pipe(log);
    agent.stderr?.pipe(log);
  } catch (err) {
    await stop();
    throw err;
  }

  const client = new ApiClient({ socketPath: socket }, { timeoutMs: 3000 });
  const tunnels = async () => {
    const status = await client.status().catch(() => null);
    return Object.fromEntries((status?.tunnels ?? []).map((x) => [x.name, x]));
  };
  return {
    sim,
    cgw,
    lan,
    tunnels,
    carrier: async () => (await tunnels())[TUNNELS[0]]?.group?.carrier ?? null,
    ping(timeoutS = 1) {
      try {
        nsExec(lanNs, "ping", ["-n", "-c", "1", "-W", String(timeoutS), FAR_HOST]);
        return true;
      } catch {
        return false;
      }
    },
    stream: () => echoStream(lanNs),
    agentLog: () => readFile(join(dir, "agent.log"), "utf8").catch(() => ""),
    async reload(edit) {
      const config = parse(await readFile(configPath, "utf8"));
      config.tunnels = [edit(config.tunnels[0])];
      await writeFile(configPath, stringify(config));
      return client.reload();
    },
    metrics: () => client.metrics(),
    configPath,
    stop,
  };
}

function echoStream(ns: string): EchoStream {
  const replies: number[] = [];
  const child = spawn("ip", ["netns", "exec", ns, "ping", "-n", "-D", "-i", "0.05", FAR_HOST], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  child.stdout.on("data", (chunk: Buffer) => {
    for (const m of chunk.toString().matchAll(/^\[(\d+\.\d+)\] \d+ bytes from/gm))
      replies.push(Number(m[1]) * 1000);
  });
  return {
    replies,
    stop: () => stopChild(child),
    gapSince(since) {
      const after = [since, ...replies.filter((r) => r > since)];
      return Math.max(0, ...after.slice(1).map((r, i) => r - (after[i] as number)));
    },
  };
}

/** Waits until both tunnels are up in the agent's status; returns them. */
export async function bothUp(lab: CgwLab, timeoutMs = 30_000) {
  return waitFor(
    "both tunnels up",
    async () => {
      const ts = await lab.tunnels();
      return TUNNELS.every((n) => ts[n]?.state === "up") ? ts : null;
    },
    timeoutMs,
  );
}

export interface CarrierKill {
  /** The tunnel whose AWS endpoint was black-holed: 1 or 2. */
  dead: 1 | 2;
  /** The tunnel that carried before. */
  carrier: string;
  /** The other tunnel carried within the wait. */
  moved: boolean;
  /** The longest time without an echo reply from the fault on, in ms. */
  gapMs: number;
  /** A reply came back in the last 1.5 s of the stream: traffic flows again. */
  flowing: boolean;
}

/**
 * Black-holes AWS's endpoint of the carrying tunnel under an echo stream, waits for the other
 * tunnel to carry, lets the stream run `settleMs` more, and measures. The endpoint stays dead.
 */
export async function killCarrier(lab: CgwLab, settleMs = 2000): Promise<CarrierKill> {
  const carrier = await waitFor("a carrier", lab.carrier, 30_000);
  const dead = carrier === TUNNELS[1] ? 2 : 1;
  const other = TUNNELS[2 - dead] as string;
  const s = lab.stream();
  await waitFor("the stream's replies", () => s.replies.length > 10, 10_000);
  const fault = Date.now();
  await lab.sim.blackhole(dead);
  const moved = await waitFor(
    "the other carrier",
    async () => (await lab.carrier()) === other,
    20_000,
  )
    .then(() => true)
    .catch(() => false);
  await new Promise((r) => setTimeout(r, settleMs));
  await s.stop();
  const flowing = s.replies.some((r) => r > Date.now() - 1500);
  return { dead, carrier, moved, gapMs: s.gapSince(fault), flowing };
}
