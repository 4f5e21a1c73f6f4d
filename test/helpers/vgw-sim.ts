import { type ChildProcess, execFile, execFileSync } from "node:child_process";
import { access, chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { ViciClient } from "../../agent/src/vici/client.ts";
import type { DecodedMessage } from "../../agent/src/vici/message.ts";
import type { AwsVpnConnection } from "../../common/aws-vpn/model.ts";
import { bigIntToIp, ipFamily, parseCidr } from "../../common/cidr.ts";
import {
  AWS_TUNNEL_DEFAULTS,
  type AwsTunnelOptions,
  nth,
  simFrrConf,
  simInsideChain,
  simStrongswanConf,
  simSwanctlConf,
  simTunnelName,
  simUpdownScript,
} from "../fixtures/vgw-sim/aws-side.ts";
import { type Charon, startCharon } from "./charon.ts";
import { createNetns, deleteNetns, NETNS_PREFIX, nsSpawn, stopChild } from "./netns.ts";

/**
 * A VGW simulator: AWS's side of one Site-to-Site VPN connection (both tunnels), configured the
 * way AWS documents its own side (test/fixtures/vgw-sim/aws-side.ts), in namespaces of its own:
 *
 *   peerNs (caller's) ──uplink── <prefix>-aws (charon, libipsec) ──far link── <prefix>-far
 *
 * With farLink, the far link goes into a namespace of the caller's instead of <prefix>-far (two
 * simulators in front of one far network: test/helpers/vgw-pair.ts).
 *
 * <prefix>-aws holds both tunnels' outside addresses and AWS's inside address of each /30; it
 * routes the customer's prefixes into the tunnels and forwards to the far host. Static routing:
 * the prefixes are given. BGP: FRR (zebra, bgpd) in <prefix>-aws peers with each tunnel's
 * customer inside address, announces the far network and installs what the customer announces.
 */

export type TunnelNo = 1 | 2;

export interface VgwSimSpec {
  /** Namespace prefix, unique per test file; starts with "swp-". */
  prefix: string;
  connection: AwsVpnConnection;
  /**
   * A veth pair from the simulator into peerNs (which must exist); the far end gets
   * peerAddress (CIDR, e.g. "198.18.71.1/24") and is named peerDev (default "swpvgw1").
   * Both tunnels' vpnGateway addresses go on the simulator's end, in the same subnet.
   */
  uplink: { peerNs: string; peerAddress: string; peerDev?: string };
  /**
   * The network behind AWS and one host in it: in a namespace of the simulator's own
   * (<prefix>-far), or, with farLink, behind the caller's namespace.
   */
  far: { cidr: string; host: string };
  /** The far link into a namespace of the caller's instead of <prefix>-far. */
  farLink?: VgwFarLink;
  /**
   * Static routing: the prefixes behind the customer gateway; default: the connection's static
   * routes. Not used with BGP, where they come from the customer's announcements.
   */
  customerPrefixes?: string[];
  /** Tunnel options the model does not carry (startup/DPD action, rekey margin...). */
  options?: Partial<AwsTunnelOptions> | [Partial<AwsTunnelOptions>, Partial<AwsTunnelOptions>];
}

/**
 * A far link from the simulator into `ns` (the caller's, which must exist): the simulator routes
 * far.cidr via peerAddress; `ns` routes far.cidr on and, for the way back, the customer's
 * prefixes to `address` (the simulator does not touch `ns`'s routes).
 */
export interface VgwFarLink {
  ns: string;
  /** The simulator's end: address/prefix, e.g. "198.51.100.2/30". */
  address: string;
  /** The end in `ns`: address/prefix, in the same subnet. */
  peerAddress: string;
  /** The simulator's end's name (default "swpvgwf0"). */
  dev?: string;
  /** The name of the end in `ns` (default "swpvgwf1"): unique there, e.g. one per simulator. */
  peerDev?: string;
  /** The namespace that holds far.host, for farHost (default `ns`). */
  hostNs?: string;
}

export interface SimChildSa {
  uniqueId: number;
  state: string;
  /** Seconds since charon installed it (absent while not INSTALLED). */
  installTimeS?: number;
  spiIn: string;
  spiOut: string;
  packetsIn: number;
  packetsOut: number;
}

export interface SimIkeSa {
  uniqueId: number;
  state: string;
  version: number;
  children: SimChildSa[];
}

export interface SimTunnelSas {
  tunnel: TunnelNo;
  /** Every IKE_SA of the tunnel (normally one), newest unique id first. */
  ikeSas: SimIkeSa[];
  /** The newest ESTABLISHED IKE_SA. */
  ike?: SimIkeSa;
  /**
   * The tunnel's INSTALLED CHILD_SA installed last (normally its only one). Of both tunnels',
   * the one installed last is the one libipsec sends on (decision 0017).
   */
  child?: SimChildSa;
}

export interface SimBgpPeer {
  tunnel: TunnelNo;
  /** The customer's inside address of the tunnel. */
  neighbor: string;
  /** bgpd's state of the session: "Established", "Active", "Connect", "Idle"... */
  state: string;
  /** Prefixes accepted from the customer on this session. */
  prefixesReceived: number;
}

export interface VgwSim {
  /** The simulator's namespace. */
  ns: string;
  farHost: { ns: string; address: string };
  viciSocket: string;
  logFile: string;
  /**
   * AWS's endpoint of the tunnel dies silently: nothing to or from its outside address (with
   * BGP, nor its inside address: the tunnel's BGP session dies with it).
   */
  blackhole(tunnel: TunnelNo): Promise<void>;
  heal(tunnel: TunnelNo): Promise<void>;
  /** AWS closes the tunnel cleanly: its IKE_SA is deleted, with a DELETE to the customer. */
  terminate(tunnel: TunnelNo): Promise<void>;
  sas(): Promise<[SimTunnelSas, SimTunnelSas]>;
  /** BGP: both tunnels' sessions, from bgpd's `show bgp summary json`. */
  bgp(): Promise<[SimBgpPeer, SimBgpPeer]>;
  /** BGP: the routes zebra installed in the simulator's namespace (`ip route` lines, proto bgp). */
  bgpRoutes(): Promise<string>;
  /** BGP: bgpd's log; after stop(), as it was then. */
  bgpLog(): Promise<string>;
  /** swanctl against the simulator's charon, e.g. swanctl("--list-sas"). */
  swanctl(...args: string[]): string;
  /** charon's log; after stop(), as it was then. */
  log(): Promise<string>;
  /**
   * Kills charon, deletes the namespaces and every link made (with farLink, its end in the
   * caller's namespace too); safe to call twice.
   */
  stop(): Promise<void>;
}

/**
 * How AWS routes to the customer. Static: the VPN connection's static routes (the customer's
 * prefixes) point into the tunnels. BGP: FRR in the simulator's namespace peers with each
 * tunnel's customer inside address and installs what the customer announces.
 */
interface Routing {
  start(ctx: { ns: string; tun: string }): Promise<void>;
  stop(): Promise<void>;
  /** BGP: the running FRR. */
  readonly frr?: Frr | undefined;
}

const run = promisify(execFile);
const CMD_TIMEOUT_MS = 10_000;
const UPLINK_DEV = "swpvgw0";
const FAR_DEV = "swpvgwf0";
const FAR_PEER_DEV = "swpvgwf1";

async function inNs(ns: string, cmd: string, args: string[]): Promise<string> {
  const { stdout } = await run("ip", ["netns", "exec", ns, cmd, ...args], {
    timeout: CMD_TIMEOUT_MS,
    encoding: "utf8",
  });
  return stdout;
}

const ipIn = (ns: string, ...args: string[]) => inNs(ns, "ip", args);

/** A veth pair made directly in its two namespaces: nothing is left in the host's. */
async function veth(a: string, aNs: string, b: string, bNs: string) {
  await run("ip", `link add ${a} netns ${aNs} type veth peer name ${b} netns ${bNs}`.split(" "));
}

/**
 * The main table as the VPC's route table. charon's libipsec routes (table 220, rule 220: 0/0
 * into the TUN device and a throw route for the peer) would also swallow the far network; the
 * main table answers every lookup first instead, and unknown destinations are unreachable. The
 * customer's inside addresses go into the tunnels (for BGP: where the next hops resolve).
 */
async function vpcRouteTable(ns: string, tun: string, conn: AwsVpnConnection) {
  for (const t of conn.tunnels)
    await ipIn(ns, "route", "add", `${t.inside.customerGateway}/32`, "dev", tun);
  await ipIn(ns, "route", "add", "unreachable", "default");
  await ipIn(ns, "rule", "add", "pref", "100", "lookup", "main");
}

function staticRouting(customerPrefixes: string[], conn: AwsVpnConnection): Routing {
  return {
    async start({ ns, tun }) {
      for (const prefix of customerPrefixes) await ipIn(ns, "route", "add", prefix, "dev", tun);
      await vpcRouteTable(ns, tun, conn);
    },
    async stop() {
      // the namespace goes, and its routes with it
    },
  };
}

/** BGP: zebra and bgpd (simFrrConf), announcing the far network as the VPC's CIDR. */
function bgpRouting(conn: AwsVpnConnection, farCidr: string): Routing {
  const config = simFrrConf(conn, farCidr);
  let frr: Frr | undefined;
  return {
    get frr() {
      return frr;
    },
    async start({ ns, tun }) {
      await vpcRouteTable(ns, tun, conn);
      frr = await startFrr({ ns, config });
    },
    async stop() {
      await frr?.stop();
    },
  };
}

function routingFor(spec: VgwSimSpec, prefixes: string[], farCidr: string): Routing {
  if (spec.connection.routing === "bgp") return bgpRouting(spec.connection, farCidr);
  return staticRouting(prefixes, spec.connection);
}

function tunnelOptions(spec: VgwSimSpec): [AwsTunnelOptions, AwsTunnelOptions] {
  const o = spec.options ?? {};
  const [a, b] = Array.isArray(o) ? o : [o, o];
  return [
    { ...AWS_TUNNEL_DEFAULTS, ...a },
    { ...AWS_TUNNEL_DEFAULTS, ...b },
  ];
}

/** "a.b.c.d/n" (IPv4, n from 8 to 30) as its address and prefix; `what` names it in the error. */
function addressAndPrefix(text: string, what: string): { ip: string; prefix: number } {
  const [ip, prefixText] = text.split("/");
  const prefix = Number(prefixText);
  if (!ip || ipFamily(ip) !== 4 || !(prefix >= 8 && prefix <= 30))
    throw new Error(`${what} ${text} is not address/prefix`);
  return { ip, prefix };
}

/**
 * A host address of `cidr` for the far host's gateway (the simulator's end of its far link, or
 * the VGW of test/helpers/vgw-pair.ts), other than the far host.
 */
export function farGateway(
  cidr: string,
  host: string,
): { address: string; prefix: number; network: string } {
  const parsed = parseCidr(cidr);
  if (!parsed.ok) throw new Error(`far.cidr ${cidr}: ${parsed.reason}`);
  const first = parsed.cidr.network + 1n;
  const address = bigIntToIp(first, 4) === host ? bigIntToIp(first + 1n, 4) : bigIntToIp(first, 4);
  const network = `${bigIntToIp(parsed.cidr.network, 4)}/${parsed.cidr.prefix}`;
  return { address, prefix: parsed.cidr.prefix, network };
}

const chain = (n: TunnelNo) => `VGW-TUNNEL${n}`;

export async function startVgwSim(spec: VgwSimSpec): Promise<VgwSim> {
  if (!spec.prefix.startsWith(NETNS_PREFIX))
    throw new Error(`the prefix must start with ${NETNS_PREFIX}`);
  const conn = spec.connection;
  const prefixes = spec.customerPrefixes ?? conn.staticRoutes ?? [];
  const bgp = conn.routing === "bgp";
  const gw = farGateway(spec.far.cidr, spec.far.host);
  const routing = routingFor(spec, prefixes, gw.network);
  const ns = `${spec.prefix}-aws`;
  const farLink = spec.farLink;
  /** The simulator's own far namespace; none with farLink. */
  const farNs = farLink ? undefined : `${spec.prefix}-far`;
  const farHostNs = farLink ? (farLink.hostNs ?? farLink.ns) : `${spec.prefix}-far`;
  const farDev = farLink?.dev ?? FAR_DEV;
  const dir = await mkdtemp("/tmp/swp-vgw-");
  const viciSocket = join(dir, "charon.vici");
  const logFile = join(dir, "charon.log");
  const outside = (n: TunnelNo) => nth(conn.tunnels, n).outside.vpnGateway;
  let charon: Charon | undefined;
  let stopped = false;
  /** The logs as they were at stop(), which removes the directories. */
  let lastLog: string | undefined;
  let lastBgpLog: string | undefined;
  const log = async () => lastLog ?? (await readFile(logFile, "utf8").catch(() => ""));
  const bgpLog = async () => lastBgpLog ?? (await routing.frr?.log()) ?? "";

  const swanctl = (...args: string[]) =>
    execFileSync("ip", ["netns", "exec", ns, "swanctl", ...args, "--uri", `unix://${viciSocket}`], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: CMD_TIMEOUT_MS,
    });
  const iptables = (...args: string[]) => inNs(ns, "iptables", ["-w", "5", ...args]);

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await stopChild(charon?.child);
    lastBgpLog = await bgpLog();
    await routing.stop();
    // Namespaces are torn down asynchronously; deleting a veth removes both ends at once.
    for (const dev of [UPLINK_DEV, farDev])
      await ipIn(ns, "link", "del", dev).catch(() => undefined);
    deleteNetns(ns);
    if (farNs) deleteNetns(farNs);
    lastLog = await log();
    await rm(dir, { recursive: true, force: true });
  };

  try {
    createNetns(ns);
    if (farNs) createNetns(farNs);
    const { ip: peerIp, prefix: uplinkPrefix } = addressAndPrefix(
      spec.uplink.peerAddress,
      "uplink.peerAddress",
    );
    const peerDev = spec.uplink.peerDev ?? "swpvgw1";
    const peerNs = spec.uplink.peerNs;
    await veth(UPLINK_DEV, ns, peerDev, peerNs);
    await ipIn(peerNs, "addr", "add", spec.uplink.peerAddress, "dev", peerDev);
    await ipIn(peerNs, "link", "set", peerDev, "up");
    for (const n of [1, 2] as const)
      await ipIn(ns, "addr", "add", `${outside(n)}/${uplinkPrefix}`, "dev", UPLINK_DEV);
    await ipIn(ns, "link", "set", UPLINK_DEV, "up");
    // A customer gateway behind NAT is known by another address: reach it via the peer.
    for (const cgw of new Set(conn.tunnels.map((t) => t.outside.customerGateway)))
      if (cgw !== peerIp) await ipIn(ns, "route", "add", `${cgw}/32`, "via", peerIp);

    if (farLink) {
      const peer = addressAndPrefix(farLink.peerAddress, "farLink.peerAddress");
      addressAndPrefix(farLink.address, "farLink.address");
      const peerDev = farLink.peerDev ?? FAR_PEER_DEV;
      await veth(farDev, ns, peerDev, farLink.ns);
      await ipIn(ns, "addr", "add", farLink.address, "dev", farDev);
      await ipIn(ns, "link", "set", farDev, "up");
      await ipIn(farLink.ns, "addr", "add", farLink.peerAddress, "dev", peerDev);
      await ipIn(farLink.ns, "link", "set", peerDev, "up");
      await ipIn(ns, "route", "add", gw.network, "via", peer.ip);
    } else if (farNs) {
      await veth(farDev, ns, FAR_PEER_DEV, farNs);
      await ipIn(ns, "addr", "add", `${gw.address}/${gw.prefix}`, "dev", farDev);
      await ipIn(ns, "link", "set", farDev, "up");
      await ipIn(farNs, "addr", "add", `${spec.far.host}/${gw.prefix}`, "dev", FAR_PEER_DEV);
      await ipIn(farNs, "link", "set", FAR_PEER_DEV, "up");
      await ipIn(farNs, "route", "add", "default", "via", gw.address);
    }
    await inNs(ns, "sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
    // AWS's inside address of each /30 as a /32: a connected /30 would route the customer's
    // inside address to lo instead of into the tunnel.
    for (const t of conn.tunnels)
      await ipIn(ns, "addr", "add", `${t.inside.vpnGateway}/32`, "dev", "lo");
    for (const n of [1, 2] as const) {
      await iptables("-N", chain(n));
      await iptables("-A", "INPUT", "-d", outside(n), "-j", chain(n));
      await iptables("-A", "OUTPUT", "-s", outside(n), "-j", chain(n));
    }
    let updown: string | undefined;
    if (bgp) {
      // A tunnel's BGP session lives with the tunnel: its inside address is silent while the
      // tunnel is black-holed (chain(n)) or has no CHILD_SA (simInsideChain, kept by updown).
      for (const n of [1, 2] as const) {
        const inside = nth(conn.tunnels, n).inside.vpnGateway;
        await iptables("-N", simInsideChain(n));
        await iptables("-A", simInsideChain(n), "-j", "DROP");
        for (const target of [chain(n), simInsideChain(n)]) {
          await iptables("-A", "INPUT", "-d", inside, "-j", target);
          await iptables("-A", "OUTPUT", "-s", inside, "-j", target);
        }
      }
      updown = join(dir, "updown.sh");
      await writeFile(updown, simUpdownScript(), { mode: 0o700 });
    }

    const confPath = join(dir, "strongswan.conf");
    await writeFile(confPath, simStrongswanConf(conn, { viciSocket, logFile }));
    const swanctlConf = join(dir, "swanctl.conf");
    await writeFile(swanctlConf, simSwanctlConf(conn, tunnelOptions(spec), updown), {
      mode: 0o600,
    });
    charon = await startCharon({ ns, confPath, viciSocket });
    swanctl("--load-all", "--file", swanctlConf);
    await routing.start({ ns, tun: await tunDevice(ns) });
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    ns,
    farHost: { ns: farHostNs, address: spec.far.host },
    viciSocket,
    logFile,
    async blackhole(n) {
      await iptables("-F", chain(n));
      await iptables("-A", chain(n), "-j", "DROP");
    },
    async heal(n) {
      await iptables("-F", chain(n));
    },
    async terminate(n) {
      await withVici(viciSocket, async (vici) => {
        try {
          // Waits up to 3 s for the customer to answer the DELETE. A dead peer never does:
          // charon reports "terminating SA failed" and gives up after its retransmissions.
          const msg = { ike: simTunnelName(n), timeout: "3000" };
          await vici.call("terminate", msg, { timeoutMs: 5000 });
        } catch (err) {
          if (!/no matching SAs|terminating SA failed/.test(String(err))) throw err;
        }
      });
    },
    sas: () => withVici(viciSocket, listSas),
    async bgp() {
      const frr = routing.frr;
      if (!frr) throw new Error(bgp ? "the simulator is stopped" : "the connection is static");
      const summary = JSON.parse(await frr.vtysh("show bgp summary json")) as {
        ipv4Unicast?: { peers?: Record<string, { state?: string; pfxRcd?: number }> };
      };
      const peers = summary.ipv4Unicast?.peers ?? {};
      const peer = (n: TunnelNo): SimBgpPeer => {
        const neighbor = nth(conn.tunnels, n).inside.customerGateway;
        const p = peers[neighbor];
        return {
          tunnel: n,
          neighbor,
          state: p?.state ?? "absent",
          prefixesReceived: p?.pfxRcd ?? 0,
        };
      };
      return [peer(1), peer(2)];
    },
    async bgpRoutes() {
      return (await ipIn(ns, "route", "show", "proto", "bgp")).trim();
    },
    bgpLog,
    swanctl,
    log,
    stop,
  };
}

/** zebra and bgpd of FRR, running in a namespace as children of this process. */
export interface Frr {
  /** Their directory: config, sockets, pid files, logs (zebra.log, bgpd.log). */
  dir: string;
  /** vtysh against them, one -c per command; resolves to its output. */
  vtysh(...commands: string[]): Promise<string>;
  /** bgpd's log. */
  log(): Promise<string>;
  /** Kills both and removes the directory; safe to call twice. */
  stop(): Promise<void>;
}

const FRR_BIN = "/usr/lib/frr";

/**
 * Starts FRR's zebra and bgpd in `ns` with `config` (frr.conf for bgpd; checked first with
 * vtysh --dryrun) and resolves once bgpd's vty answers. They run in the foreground as children
 * (no -d), so stop() kills exactly them. The directory is mode 0777: the daemons drop to user
 * frr. Not -u root: vtysh's group check (frrvty) fails then.
 */
export async function startFrr(opts: {
  ns: string;
  config: string;
  timeoutMs?: number;
}): Promise<Frr> {
  const dir = await mkdtemp("/tmp/swp-frr-");
  await chmod(dir, 0o777);
  const confPath = join(dir, "frr.conf");
  const zserv = join(dir, "zserv.api");
  const children: ChildProcess[] = [];
  let stderr = "";
  let stopped = false;
  let lastLog: string | undefined;
  const log = async () =>
    lastLog ?? (await readFile(join(dir, "bgpd.log"), "utf8").catch(() => ""));
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const child of children.reverse()) await stopChild(child);
    lastLog = await log();
    await rm(dir, { recursive: true, force: true });
  };
  const spawnDaemon = (name: "zebra" | "bgpd", config: string) => {
    const args = ["-i", join(dir, `${name}.pid`), "-z", zserv, "--vty_socket", dir, "-f", config];
    const log = ["--log", `file:${join(dir, `${name}.log`)}`];
    const child = nsSpawn(opts.ns, join(FRR_BIN, name), [...args, ...log], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000);
    });
    children.push(child);
    return { name, child };
  };
  const ready = async ({ name, child }: { name: string; child: ChildProcess }, file: string) => {
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`${name} exited: ${stderr.trim()}`);
      if (
        await access(join(dir, file)).then(
          () => true,
          () => false,
        )
      )
        return;
      if (Date.now() > deadline) throw new Error(`no ${file} from FRR in ${opts.ns}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const vtysh = async (...commands: string[]) =>
    inNs(opts.ns, "vtysh", ["--vty_socket", dir, ...commands.flatMap((c) => ["-c", c])]);

  try {
    await writeFile(confPath, opts.config, { mode: 0o644 });
    await run("vtysh", ["--dryrun", "--inputfile", confPath], { timeout: CMD_TIMEOUT_MS }).catch(
      (err: { stdout?: string; stderr?: string }) => {
        throw new Error(`FRR rejects the config: ${`${err.stdout ?? ""}${err.stderr ?? ""}`}`);
      },
    );
    await ready(spawnDaemon("zebra", "/dev/null"), "zserv.api");
    await ready(spawnDaemon("bgpd", confPath), "bgpd.vty");
    await vtysh("show bgp summary json");
  } catch (err) {
    await stop();
    throw err;
  }
  return { dir, vtysh, log, stop };
}

/** The libipsec TUN device charon made at startup (ipsec0 in a fresh namespace). */
async function tunDevice(ns: string): Promise<string> {
  const out = await ipIn(ns, "-o", "link", "show", "type", "tun");
  const name = /^\d+:\s+(ipsec\d+)/m.exec(out)?.[1];
  if (!name) throw new Error(`charon made no ipsec TUN device in ${ns}`);
  return name;
}

async function withVici<T>(socket: string, body: (vici: ViciClient) => Promise<T>): Promise<T> {
  const vici = await ViciClient.connect(socket, { timeoutMs: 2000, callTimeoutMs: 5000 });
  try {
    return await body(vici);
  } finally {
    vici.close();
  }
}

const str = (v: unknown) => (typeof v === "string" ? v : "");
const num = (v: unknown) => Number(str(v) || Number.NaN);

async function listSas(vici: ViciClient): Promise<[SimTunnelSas, SimTunnelSas]> {
  const tunnels: [SimTunnelSas, SimTunnelSas] = [
    { tunnel: 1, ikeSas: [] },
    { tunnel: 2, ikeSas: [] },
  ];
  for await (const event of vici.stream("list-sas", "list-sa", {})) {
    for (const [name, value] of Object.entries(event)) {
      const n = name === simTunnelName(1) ? 1 : name === simTunnelName(2) ? 2 : undefined;
      if (!n) continue;
      const ike = value as DecodedMessage;
      const children = Object.values((ike["child-sas"] ?? {}) as DecodedMessage).map((c) => {
        const child = c as DecodedMessage;
        const install = num(child["install-time"]);
        return {
          uniqueId: num(child.uniqueid),
          state: str(child.state),
          ...(Number.isFinite(install) && { installTimeS: install }),
          spiIn: str(child["spi-in"]),
          spiOut: str(child["spi-out"]),
          packetsIn: num(child["packets-in"]) || 0,
          packetsOut: num(child["packets-out"]) || 0,
        };
      });
      nth(tunnels, n).ikeSas.push({
        uniqueId: num(ike.uniqueid),
        state: str(ike.state),
        version: num(ike.version),
        children,
      });
    }
  }
  for (const t of tunnels) {
    t.ikeSas.sort((a, b) => b.uniqueId - a.uniqueId);
    const ike = t.ikeSas.find((s) => s.state === "ESTABLISHED");
    if (ike) t.ike = ike;
    // Fewest seconds since install is newest; within a second, the higher unique id.
    const installed = t.ikeSas
      .flatMap((s) => s.children)
      .filter((c) => c.state === "INSTALLED")
      .sort((a, b) => (a.installTimeS ?? 0) - (b.installTimeS ?? 0) || b.uniqueId - a.uniqueId);
    if (installed[0]) t.child = installed[0];
  }
  return tunnels;
}
