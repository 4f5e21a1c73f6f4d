import type { ResolvedConfig, ResolvedTunnel } from "../config/types.ts";

/**
 * What the host needs beyond charon for route-based tunnels (aws-vpn entries), pure
 * (decision 0023). Level-triggered: the agent re-applies it on every resync, and removes the
 * routes it made (protocol SWANPAIR_ROUTE_PROTO) that are no longer wanted.
 *
 * - libipsec: charon routes each CHILD_SA's remote selector into its TUN device (ipsec0) in
 *   table 220, so a 0.0.0.0/0 selector would capture all of the appliance's traffic. Two throw
 *   routes, 0.0.0.0/1 and 128.0.0.0/1, in table 220 are more specific than that route and send
 *   every lookup on to the main table; narrower routes (site-to-site tunnels, charon's exclude
 *   routes for IKE peers) still win in table 220. The inside addresses go on ipsec0, and the
 *   static prefixes are routed into ipsec0: libipsec picks the CHILD_SA (the newest carries).
 * - kernel: an XFRM interface per tunnel (`swp-x<ifId>`), its inside address on it, and the
 *   static prefixes over the interface of the tunnel that carries.
 */

/** Routes the agent makes carry this protocol number, so it can find and remove its own. */
export const SWANPAIR_ROUTE_PROTO = 250;
/** charon's default routing table for the routes of its policies (kernel-netlink). */
export const CHARON_TABLE = 220;
export const LIBIPSEC_DEVICE = "ipsec0";

export interface DatapathLink {
  name: string;
  ifId: number;
}

export interface DatapathAddress {
  dev: string;
  /** address/prefix, e.g. 169.254.10.2/30 */
  address: string;
}

export type DatapathRoute =
  | { kind: "throw"; table: number; dst: string }
  | { kind: "dev"; table: "main"; dst: string; dev: string; src: string };

export interface Datapath {
  links: DatapathLink[];
  addresses: DatapathAddress[];
  routes: DatapathRoute[];
}

export const xfrmName = (ifId: number) => `swp-x${ifId}`;

const prefixOf = (cidr: string) => cidr.slice(cidr.indexOf("/"));

/**
 * @param carriers per aws-vpn entry, the tunnel that carries now (kernel: where its routes
 *   point); an entry missing here routes over its first tunnel
 */
export function desiredDatapath(
  config: ResolvedConfig,
  carriers: ReadonlyMap<string, string> = new Map(),
): Datapath {
  const aws = config.tunnels.filter(
    (t): t is ResolvedTunnel & { aws: NonNullable<ResolvedTunnel["aws"]> } => t.aws !== undefined,
  );
  const empty: Datapath = { links: [], addresses: [], routes: [] };
  if (aws.length === 0) return empty;
  const kernel = config.datapath === "kernel";
  const devOf = (t: ResolvedTunnel) =>
    kernel && t.ifId !== undefined ? xfrmName(t.ifId) : LIBIPSEC_DEVICE;
  const links = kernel
    ? aws.flatMap((t) => (t.ifId === undefined ? [] : [{ name: xfrmName(t.ifId), ifId: t.ifId }]))
    : [];
  const addresses = aws.map((t) => ({
    dev: devOf(t),
    address: `${t.aws.inside.local}${prefixOf(t.aws.inside.cidr)}`,
  }));
  const throws: DatapathRoute[] = kernel
    ? []
    : ["0.0.0.0/1", "128.0.0.0/1"].map((dst) => ({ kind: "throw", table: CHARON_TABLE, dst }));
  const statics = aws
    .filter((t) => t.aws.index === 1 && t.aws.routing === "static")
    .flatMap((first) => {
      const name = carriers.get(first.aws.entry) ?? first.name;
      const carrier = aws.find((t) => t.name === name) ?? first;
      return first.aws.remotePrefixes.map(
        (dst): DatapathRoute => ({
          kind: "dev",
          table: "main",
          dst,
          dev: devOf(carrier),
          src: config.appliance.localAddress,
        }),
      );
    });
  return { links, addresses, routes: [...throws, ...statics] };
}

/** The `ip` argument lists that make a datapath so; each is idempotent (add-or-replace). */
export function ipCommands(d: Datapath, parentDev: string): string[][] {
  return [
    ...d.links.flatMap((l) => [
      ["link", "add", l.name, "type", "xfrm", "dev", parentDev, "if_id", String(l.ifId)],
      ["link", "set", l.name, "up"],
    ]),
    ...d.addresses.map((a) => ["address", "replace", a.address, "dev", a.dev]),
    ...d.routes.map(routeArgs),
  ];
}

function routeArgs(r: DatapathRoute): string[] {
  const proto = ["proto", String(SWANPAIR_ROUTE_PROTO)];
  if (r.kind === "throw")
    return ["route", "replace", "throw", r.dst, "table", String(r.table), ...proto];
  return ["route", "replace", r.dst, "dev", r.dev, "src", r.src, ...proto];
}
