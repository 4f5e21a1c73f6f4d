import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { AwsVpnConnection } from "../../common/aws-vpn/model.ts";
import type { AwsTunnelOptions } from "../fixtures/vgw-sim/aws-side.ts";
import { createNetns, deleteNetns, NETNS_PREFIX } from "./netns.ts";
import { farGateway, type SimTunnelSas, startVgwSim, type VgwSim } from "./vgw-sim.ts";

/**
 * AWS's side of TWO Site-to-Site VPN connections on one virtual private gateway, in front of one
 * far network: the customer's pair of appliances, each with its own connection, both routing
 * the same prefixes (static routes, or announced over BGP).
 *
 *   uplinks[0] ══ <prefix>1-aws (sim 1) ──┐ 198.51.100.0/30
 *                                         ├── <prefix>-vgw ──── <prefix>-far (far host)
 *   uplinks[1] ══ <prefix>2-aws (sim 2) ──┘ 198.51.100.4/30
 *
 * Each simulator (test/helpers/vgw-sim.ts) routes the customer's prefixes into its own tunnels
 * and the far network to <prefix>-vgw. <prefix>-vgw is the VPC's router: it routes the
 * customer's prefixes to the simulator of the connection AWS uses. AWS's choice follows the
 * simulators, polled: with static routing a connection is up while one of its tunnels has an
 * ESTABLISHED IKE_SA with an INSTALLED CHILD_SA (so AWS moves once its DPD timeout has cleared
 * a dead customer's SAs); with BGP, while its simulator has the customer's prefixes from the
 * customer's announcements (so AWS moves once the hold time has run out). AWS stays on the
 * connection it uses while that is up and moves to the other once it is not. While neither is
 * up, the route is a blackhole (AWS's word for an inactive route).
 */

export type ConnectionNo = 1 | 2;

export interface VgwPairUplink {
  /** The customer gateway's namespace (it must exist). */
  peerNs: string;
  /** The customer gateway's outside address, CIDR, in the subnet of the connection's AWS ends. */
  peerAddress: string;
  /** The uplink's device in peerNs (default "swpvgw1"; give two when both share a namespace). */
  peerDev?: string;
}

export interface VgwPairSpec {
  /** Namespace prefix, unique per test file; starts with "swp-". */
  prefix: string;
  /** The two VPN connections, both static or both BGP. */
  connections: [AwsVpnConnection, AwsVpnConnection];
  /** One uplink per connection, into its customer gateway's namespace. */
  uplinks: [VgwPairUplink, VgwPairUplink];
  /** The network behind AWS and one host in it (in <prefix>-far). */
  far: { cidr: string; host: string };
  /** The customer's prefixes: each simulator routes them into its tunnels. */
  customerPrefixes: string[];
  /** Both simulators' tunnel options (vgw-sim's `options`). */
  options?: Partial<AwsTunnelOptions> | [Partial<AwsTunnelOptions>, Partial<AwsTunnelOptions>];
  /** How often AWS's choice looks at the simulators' SAs (default 200 ms). */
  pollMs?: number;
}

export interface VgwPairMove {
  /** Date.now() once the VGW's route pointed to the connection. */
  at: number;
  to: ConnectionNo;
}

export interface VgwPair {
  /** The simulators of connection 1 and 2. */
  sims: [VgwSim, VgwSim];
  /** The VGW's namespace, where AWS's choice is a route. */
  ns: string;
  farHost: { ns: string; address: string };
  /** The connection the customer's prefixes are routed to; null while neither is up. */
  using(): ConnectionNo | null;
  /** Every change of using() to a connection, oldest first (the first choice included). */
  moves(): VgwPairMove[];
  /** Whether each connection was up at the last poll that read it. */
  up(): [boolean, boolean];
  /** The last poll's failure (reading SAs or changing the route), if the last poll failed. */
  lastError(): string | undefined;
  /** The VGW's routes to the customer's prefixes (`ip route` lines). */
  routes(): Promise<string>;
  /** Stops polling and both simulators, deletes the namespaces; safe to call twice. */
  stop(): Promise<void>;
}

const run = promisify(execFile);
const CMD_TIMEOUT_MS = 10_000;
/** The VGW's end of the link to simulator n (its end: simDev in <prefix>n-aws). */
const vgwDev = (n: ConnectionNo) => `swpsim${n}`;
const SIM_DEV = "swpvgwf0";
const FAR_DEV = "swpfar0";
const FAR_PEER_DEV = "swpfar1";
/** The link VGW ↔ simulator n: 198.51.100.(4n-4)/30 (TEST-NET-2), the VGW .1, the sim .2. */
const linkAddress = (n: ConnectionNo, end: "vgw" | "sim") =>
  `198.51.100.${(n - 1) * 4 + (end === "vgw" ? 1 : 2)}`;

async function ipIn(ns: string, ...args: string[]): Promise<string> {
  const { stdout } = await run("ip", ["-n", ns, ...args], {
    timeout: CMD_TIMEOUT_MS,
    encoding: "utf8",
  });
  return stdout;
}

/** A connection is up while one of its tunnels has an ESTABLISHED IKE_SA with an INSTALLED CHILD_SA. */
export function connectionUp(sas: readonly SimTunnelSas[]): boolean {
  return sas.some((t) =>
    t.ikeSas.some(
      (ike) => ike.state === "ESTABLISHED" && ike.children.some((c) => c.state === "INSTALLED"),
    ),
  );
}

/**
 * With BGP a connection counts while the VGW has the customer's prefixes from it: the route
 * leaves with the session, when the hold time runs out (AWS withdraws it then, whatever DPD
 * says). `routes` is the simulator's `ip route show proto bgp`.
 */
export function bgpConnectionUp(routes: string, prefixes: readonly string[]): boolean {
  const have = new Set(routes.split("\n").map((l) => l.split(" ")[0]));
  return prefixes.every((p) => have.has(p));
}

/** Sticky: the current connection while it is up, else the first other that is up, else none. */
export function choose(
  current: ConnectionNo | null,
  up: readonly [boolean, boolean],
): ConnectionNo | null {
  if (current && up[current - 1]) return current;
  const other = ([1, 2] as const).find((n) => n !== current && up[n - 1]);
  return other ?? null;
}

export async function startVgwPair(spec: VgwPairSpec): Promise<VgwPair> {
  if (!spec.prefix.startsWith(NETNS_PREFIX))
    throw new Error(`the prefix must start with ${NETNS_PREFIX}`);
  for (const c of spec.connections)
    if (c.routing !== spec.connections[0].routing)
      throw new Error(`${c.vpnConnectionId}: both connections must route alike`);
  const peerDevs = spec.uplinks.map((u) => u.peerDev ?? "swpvgw1");
  if (spec.uplinks[0].peerNs === spec.uplinks[1].peerNs && peerDevs[0] === peerDevs[1])
    throw new Error("both uplinks end in one namespace: give them different peerDev names");
  const ns = `${spec.prefix}-vgw`;
  const farNs = `${spec.prefix}-far`;
  const gw = farGateway(spec.far.cidr, spec.far.host);
  const pollMs = spec.pollMs ?? 200;
  const bgp = spec.connections[0].routing === "bgp";
  const sims: VgwSim[] = [];
  let current: ConnectionNo | null = null;
  const moves: VgwPairMove[] = [];
  const up: [boolean, boolean] = [false, false];
  let lastError: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> | undefined;
  let stopped = false;

  /** Points the customer's prefixes to connection n's simulator, or blackholes them. */
  const route = async (n: ConnectionNo | null) => {
    for (const prefix of spec.customerPrefixes) {
      const target = n ? ["via", linkAddress(n, "sim"), "dev", vgwDev(n)] : [];
      await ipIn(ns, "route", "replace", ...(n ? [] : ["blackhole"]), prefix, ...target);
    }
  };

  const poll = async () => {
    const errors: string[] = [];
    const states = await Promise.all(
      sims.map((sim, i) =>
        (bgp
          ? sim.bgpRoutes().then((r) => bgpConnectionUp(r, spec.customerPrefixes))
          : sim.sas().then(connectionUp)
        ).then(undefined, (err: unknown) => {
          errors.push(`connection ${i + 1}: ${String(err)}`);
          return undefined;
        }),
      ),
    );
    // A failed read keeps what the connection was: no move on a hiccup of VICI.
    states.forEach((state, i) => {
      if (state !== undefined) up[i] = state;
    });
    const next = choose(current, up);
    if (next !== current && !stopped) {
      try {
        await route(next);
        current = next;
        if (next) moves.push({ at: Date.now(), to: next });
      } catch (err) {
        errors.push(`route: ${String(err)}`);
      }
    }
    lastError = errors.length ? errors.join("; ") : undefined;
  };

  const schedule = () => {
    timer = setTimeout(() => {
      polling = poll().finally(() => {
        polling = undefined;
        if (!stopped) schedule();
      });
    }, pollMs);
    // A test that forgets stop() still ends.
    timer.unref();
  };

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    clearTimeout(timer);
    await polling?.catch(() => undefined);
    for (const sim of sims) await sim.stop();
    deleteNetns(ns);
    deleteNetns(farNs);
  };

  try {
    createNetns(ns);
    createNetns(farNs);
    // The far network: the far host in <prefix>-far, its gateway the VGW.
    await run(
      "ip",
      `link add ${FAR_DEV} netns ${ns} type veth peer name ${FAR_PEER_DEV} netns ${farNs}`.split(
        " ",
      ),
    );
    await ipIn(ns, "addr", "add", `${gw.address}/${gw.prefix}`, "dev", FAR_DEV);
    await ipIn(ns, "link", "set", FAR_DEV, "up");
    await ipIn(farNs, "addr", "add", `${spec.far.host}/${gw.prefix}`, "dev", FAR_PEER_DEV);
    await ipIn(farNs, "link", "set", FAR_PEER_DEV, "up");
    await ipIn(farNs, "route", "add", "default", "via", gw.address);
    await run("ip", ["netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"], {
      timeout: CMD_TIMEOUT_MS,
    });
    await route(null);
    for (const n of [1, 2] as const) {
      const uplink = spec.uplinks[n - 1] as VgwPairUplink;
      sims.push(
        await startVgwSim({
          prefix: `${spec.prefix}${n}`,
          connection: spec.connections[n - 1] as AwsVpnConnection,
          uplink: { ...uplink, peerDev: peerDevs[n - 1] as string },
          far: spec.far,
          farLink: {
            ns,
            address: `${linkAddress(n, "sim")}/30`,
            peerAddress: `${linkAddress(n, "vgw")}/30`,
            dev: SIM_DEV,
            peerDev: vgwDev(n),
            hostNs: farNs,
          },
          customerPrefixes: spec.customerPrefixes,
          ...(spec.options && { options: spec.options }),
        }),
      );
    }
    await poll();
    if (lastError) throw new Error(`the first look at the simulators failed: ${lastError}`);
    schedule();
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    sims: sims as [VgwSim, VgwSim],
    ns,
    farHost: { ns: farNs, address: spec.far.host },
    using: () => current,
    moves: () => [...moves],
    up: () => [up[0], up[1]],
    lastError: () => lastError,
    routes: async () => {
      const lines = await Promise.all(
        spec.customerPrefixes.map((p) => ipIn(ns, "route", "show", "exact", p)),
      );
      return lines.join("").trim();
    },
    stop,
  };
}
