import type { ChildProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { stringify } from "yaml";
import { ApiClient } from "../../common/agent-api/client.ts";
import type { AgentStatus } from "../../common/agent-api/status.ts";
import { type Charon, startCharon } from "./charon.ts";
import { createNetns, createPeerPair, deleteNetns, nsExec, nsSpawn, stopChild } from "./netns.ts";

/**
 * Two appliances, "a" and "b", each in its own network namespace running the real
 * `swanpair-agent run` (child mode, libipsec). Outside: 198.18.0.1 ⇄ 198.18.0.2.
 * Inside addresses on lo: a has 10.1.N.10, b has 10.2.N.20 for N = 0, 1, 2 (by default).
 */
export const AGENT_BIN = resolve(import.meta.dirname, "../../agent/bin/swanpair-agent.ts");
export const PSK = "swanpair-lab-psk-0123456789";
/** The hand-written config of a charon that swanpair did not configure. */
const INTEROP_FIXTURES = resolve(import.meta.dirname, "../fixtures/interop");

export type Side = "a" | "b";
const SIDES = {
  a: { outside: "198.18.0.1", peer: "198.18.0.2", net: 1, host: 10 },
  b: { outside: "198.18.0.2", peer: "198.18.0.1", net: 2, host: 20 },
} as const;

/**
 * Where an agent runs: an appliance ("a", "b"), or the standby member of that appliance's
 * pair ("as", "bs") once addStandby() made it.
 */
export type Host = Side | `${Side}s`;
const standbyAddress = (side: Side) => `10.${SIDES[side].net}.0.66`;

/** One path probe of a standby's config. */
export interface PathSpec {
  name: string;
  /** Default: the far appliance's inside address on subnet 0, where its agent answers. */
  target?: string;
  /** Extra path fields (intervalMs, fall, rise, source...). */
  extra?: Record<string, unknown>;
}

export interface TunnelSpec {
  name: string;
  /** N of 10.X.N.0/24: which inside subnet pair the tunnel joins. */
  subnet: number;
  probe?: boolean;
  /** Give the tunnel its own IKE identities (needed for a second tunnel to the same peer). */
  ownIds?: boolean;
  /** Extra tunnel fields, applied to both sides. */
  extra?: Record<string, unknown>;
}

export class AgentLab {
  readonly dir: string;
  readonly prefix: string;
  readonly #agents = new Map<Host, ChildProcess>();
  readonly #cleanupNs: () => void;
  readonly #standbys = new Set<Host>();
  readonly #plain: Charon[] = [];

  /** The agent program each side runs: the TypeScript entry, or a built bundle. */
  readonly bin: string;

  private constructor(dir: string, prefix: string, bin: string, cleanupNs: () => void) {
    this.dir = dir;
    this.prefix = prefix;
    this.bin = bin;
    this.#cleanupNs = cleanupNs;
  }

  /**
   * @param prefix namespace prefix, e.g. "swp-tun"; must be unique per test file
   * subnets: how many inside subnet pairs (10.X.N.0/24) get an address on each side
   * psk: the content of the PSK file both sides' tunnels use
   */
  static async create(
    prefix: string,
    {
      subnets = 3,
      bin = AGENT_BIN,
      psk = `${PSK}\n`,
    }: { subnets?: number; bin?: string; psk?: string } = {},
  ): Promise<AgentLab> {
    const dir = await mkdtemp("/tmp/swp-lab-");
    const inside = (side: Side) =>
      Array.from(
        { length: subnets },
        (_, n) => `10.${SIDES[side].net}.${n}.${SIDES[side].host}/32`,
      );
    const pair = createPeerPair({
      left: { ns: `${prefix}-a`, outside: SIDES.a.outside, inside: inside("a") },
      right: { ns: `${prefix}-b`, outside: SIDES.b.outside, inside: inside("b") },
      outsidePrefix: 24,
    });
    await writeFile(join(dir, "psk"), psk, { mode: 0o600 });
    return new AgentLab(dir, prefix, bin, pair.cleanup);
  }

  ns(side: Host) {
    return `${this.prefix}-${side}`;
  }
  socket(side: Host) {
    return join(this.dir, side, "agent.sock");
  }
  vici(side: Host) {
    return join(this.dir, side, "charon.vici");
  }
  configPath(side: Host) {
    return join(this.dir, `${side}.yaml`);
  }
  insideAddress(side: Side, subnet = 0) {
    return `10.${SIDES[side].net}.${subnet}.${SIDES[side].host}`;
  }

  config(side: Side, tunnels: TunnelSpec[]) {
    const me = SIDES[side];
    const other = side === "a" ? "b" : "a";
    const them = SIDES[other];
    return {
      appliance: { name: `${side}1`, localAddress: me.outside },
      datapath: "libipsec",
      charon: { mode: "child" },
      stateDir: join(this.dir, side),
      api: { socket: this.socket(side) },
      log: { level: "debug" },
      tunnels: tunnels.map((t) => ({
        name: t.name,
        type: "peer",
        remoteAddress: me.peer,
        psk: { file: join(this.dir, "psk") },
        ...(t.ownIds && { localId: `${side}1.${t.name}`, remoteId: `${other}1.${t.name}` }),
        localSubnets: [`10.${me.net}.${t.subnet}.0/24`],
        remoteSubnets: [`10.${them.net}.${t.subnet}.0/24`],
        ...(t.probe === false
          ? {}
          : {
              probe: {
                source: this.insideAddress(side, t.subnet),
                target: this.insideAddress(other, t.subnet),
                intervalMs: 100,
                fall: 3,
                rise: 2,
              },
            }),
        ...t.extra,
      })),
    };
  }

  async writeConfig(side: Side, tunnels: TunnelSpec[]) {
    await writeFile(this.configPath(side), stringify(this.config(side, tunnels)));
  }

  async writeRawConfig(side: Host, text: string) {
    await writeFile(this.configPath(side), text);
  }

  /**
   * Adds the other member of `side`'s pair ("as" or "bs") in its own namespace, placed as a
   * VPC would place it: on a link to the appliance inside subnet 0 (10.X.0.64/30), with its
   * only route out via the appliance, which forwards. Its traffic to the far side therefore
   * takes the appliance's tunnel, the way the VPC's routes send it through the active member.
   */
  addStandby(side: Side): { host: Host; address: string; gateway: string } {
    const host: Host = `${side}s`;
    const net = SIDES[side].net;
    const gateway = `10.${net}.0.65`;
    const address = standbyAddress(side);
    createNetns(this.ns(host));
    this.#standbys.add(host);
    const [appliance, standby] = [this.ns(side), this.ns(host)];
    // Interface names are per namespace: these do not clash with the pair's swpveth0/1.
    const link = ["swpveth2", "netns", appliance, "type", "veth"];
    execFileSync("ip", ["link", "add", ...link, "peer", "name", "swpveth3", "netns", standby]);
    nsExec(appliance, "ip", ["addr", "add", `${gateway}/30`, "dev", "swpveth2"]);
    nsExec(appliance, "ip", ["link", "set", "swpveth2", "up"]);
    nsExec(appliance, "sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
    nsExec(standby, "ip", ["addr", "add", `${address}/30`, "dev", "swpveth3"]);
    nsExec(standby, "ip", ["link", "set", "swpveth3", "up"]);
    nsExec(standby, "ip", ["route", "add", "default", "via", gateway]);
    return { host, address, gateway };
  }

  /** A standby's config: no tunnels of its own, only path probes (every 100 ms, fall 3, rise 2). */
  standbyConfig(side: Side, paths: PathSpec[]) {
    const host: Host = `${side}s`;
    const other: Side = side === "a" ? "b" : "a";
    return {
      appliance: { name: `${side}2`, localAddress: standbyAddress(side) },
      datapath: "libipsec",
      charon: { mode: "child" },
      stateDir: join(this.dir, host),
      api: { socket: this.socket(host) },
      log: { level: "debug" },
      paths: paths.map((p) => ({
        name: p.name,
        target: p.target ?? this.insideAddress(other, 0),
        intervalMs: 100,
        fall: 3,
        rise: 2,
        ...p.extra,
      })),
    };
  }

  async writeStandbyConfig(side: Side, paths: PathSpec[]) {
    await writeFile(this.configPath(`${side}s`), stringify(this.standbyConfig(side, paths)));
  }

  /**
   * Runs the agent as an operator would: the program itself, so its shebang's Node flags
   * apply. With nodeFlags, node is started explicitly with those flags instead.
   */
  startAgent(side: Host, nodeFlags?: string[]) {
    const log = createWriteStream(join(this.dir, `${side}.log`), { flags: "a" });
    const args = ["run", "--config", this.configPath(side)];
    const [cmd, argv] = nodeFlags
      ? [process.execPath, [...nodeFlags, this.bin, ...args]]
      : [this.bin, args];
    // The shebang finds node on PATH: put this node first.
    const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}` };
    const child = nsSpawn(this.ns(side), cmd, argv, { stdio: ["ignore", "pipe", "pipe"], env });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.#agents.set(side, child);
    return child;
  }

  agent(side: Host) {
    return this.#agents.get(side);
  }

  async log(side: Host) {
    return readFile(join(this.dir, `${side}.log`), "utf8").catch(() => "");
  }

  client(side: Host) {
    return new ApiClient({ socketPath: this.socket(side) }, { timeoutMs: 5000 });
  }

  async status(side: Host): Promise<AgentStatus | null> {
    return this.client(side)
      .status()
      .catch(() => null);
  }

  async tunnelState(side: Host, name: string) {
    return (await this.status(side))?.tunnels.find((t) => t.name === name)?.state;
  }

  /** One ping from a's (or b's) inside address to the other side's, through the tunnel. */
  ping(from: Side, subnet = 0, timeoutS = 1): boolean {
    const to: Side = from === "a" ? "b" : "a";
    try {
      execFileSync(
        "ip",
        [
          "netns",
          "exec",
          this.ns(from),
          "ping",
          "-c",
          "1",
          "-W",
          String(timeoutS),
          "-I",
          this.insideAddress(from, subnet),
          this.insideAddress(to, subnet),
        ],
        { stdio: "ignore" },
      );
      return true;
    } catch {
      return false;
    }
  }

  /** swanctl in the side's namespace, against that side's charon. */
  swanctl(side: Host, ...args: string[]): string {
    return swanctlAt(this.ns(side), this.vici(side), args);
  }

  /**
   * Runs, in `side`'s namespace instead of an agent, a plain charon-systemd that swanpair did
   * not configure: the hand-written strongswan.conf and swanctl.conf of test/fixtures/interop,
   * loaded by swanctl as an operator of another strongSwan box would. `secret` is the
   * swanctl.conf value of its PSK (default: the lab's PSK), so it may use 0x/0s notation.
   * cleanup() stops it. Returns swanctl against that charon.
   */
  async startPlainCharon(side: Side, { secret = PSK }: { secret?: string } = {}) {
    const dir = join(this.dir, `plain-${side}`);
    await mkdir(dir, { recursive: true });
    const fill = async (name: string, from: string, to: string) => {
      const text = await readFile(join(INTEROP_FIXTURES, name), "utf8");
      await writeFile(join(dir, name), text.replaceAll(from, to), { mode: 0o600 });
      return join(dir, name);
    };
    const confPath = await fill("strongswan.conf", "@DIR@", dir);
    const swanctlConf = await fill("swanctl.conf", "@SECRET@", `"${secret}"`);
    const viciSocket = join(dir, "charon.vici");
    this.#plain.push(await startCharon({ ns: this.ns(side), confPath, viciSocket }));
    const swanctl = (...args: string[]) => swanctlAt(this.ns(side), viciSocket, args);
    swanctl("--load-all", "--file", swanctlConf);
    return { swanctl };
  }

  async stopAgent(side: Host) {
    await stopChild(this.#agents.get(side));
    this.#agents.delete(side);
  }

  async cleanup() {
    for (const side of [...this.#agents.keys()]) await this.stopAgent(side);
    for (const charon of this.#plain) await charon.stop();
    // A charon orphaned by a test that killed its agent still holds the namespace.
    for (const side of ["a", "b", ...this.#standbys] as const) {
      const pid = Number(
        (await readFile(join(this.dir, side, "charon.pid"), "utf8").catch(() => "")).trim(),
      );
      if (pid > 1) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    for (const host of this.#standbys) deleteNetns(this.ns(host));
    this.#cleanupNs();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** swanctl in a namespace, against the charon at that VICI socket. */
function swanctlAt(ns: string, vici: string, args: string[]): string {
  return execFileSync("ip", ["netns", "exec", ns, "swanctl", ...args, "--uri", `unix://${vici}`], {
    encoding: "utf8",
  });
}

/** What waitFor resolves to: check()'s value, never a falsy one. */
export type Truthy<T> = Exclude<T, null | undefined | false | 0 | "">;

/** Polls until check() returns a truthy value, or throws after timeoutMs with the label. */
export async function waitFor<T>(
  label: string,
  check: () => Promise<T> | T,
  timeoutMs = 20_000,
  stepMs = 50,
): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as Truthy<T>;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${label}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
