import type { RouteTable } from "@aws-sdk/client-ec2";

/**
 * What a VPC router must hold so that every packet leaving a subnet goes where that subnet's
 * EC2 route table says: one Linux routing table per subnet, chosen by source address. Pure:
 * EC2's answers in, Linux routes out.
 */

/** One Linux route, in the terms the adapter writes with `ip route replace`. */
export type LinuxRoute =
  | { dst: string; kind: "vpc" }
  | { dst: string; kind: "internet" }
  | { dst: string; kind: "via"; via: string; target: string }
  | { dst: string; kind: "blackhole"; target: string }
  | { dst: string; kind: "unreachable" };

export interface SubnetRoutes {
  subnet: string;
  cidr: string;
  /** The Linux table number, stable for a subnet as long as the VPC's subnets do not change. */
  table: number;
  routeTable: string;
  routes: LinuxRoute[];
}

export interface VpcView {
  subnets: Array<{ id: string; cidr: string }>;
  routeTables: RouteTable[];
  /** Private address of each ENI and instance a route may target. */
  addresses: Map<string, string>;
}

export const FIRST_TABLE = 100;

/** Targets whose address the router must know: instances and network interfaces. */
export function routeTargets(tables: RouteTable[]): string[] {
  const ids = new Set<string>();
  for (const t of tables) {
    for (const r of t.Routes ?? []) {
      const id = r.NetworkInterfaceId ?? r.InstanceId;
      if (id !== undefined) ids.add(id);
    }
  }
  return [...ids].sort();
}

/** The table each subnet uses: its explicit association, else the VPC's main table. */
function tableOf(subnet: string, tables: RouteTable[]): RouteTable | undefined {
  const explicit = tables.find((t) =>
    (t.Associations ?? []).some(
      (a) => a.SubnetId === subnet && a.AssociationState?.State !== "disassociated",
    ),
  );
  return explicit ?? tables.find((t) => (t.Associations ?? []).some((a) => a.Main === true));
}

function linuxRoute(
  r: NonNullable<RouteTable["Routes"]>[number],
  view: VpcView,
): LinuxRoute | undefined {
  const dst = r.DestinationCidrBlock;
  if (dst === undefined) return undefined; // IPv6 and prefix lists: not in labs
  const target = r.NetworkInterfaceId ?? r.InstanceId ?? r.GatewayId ?? "";
  if (r.State === "blackhole") return { dst, kind: "blackhole", target };
  if (r.GatewayId === "local") return { dst, kind: "vpc" };
  if (r.GatewayId?.startsWith("igw-")) return { dst, kind: "internet" };
  const via =
    view.addresses.get(r.NetworkInterfaceId ?? "") ?? view.addresses.get(r.InstanceId ?? "");
  // A target the router cannot reach is a black hole, as in EC2 when the instance is gone.
  return via === undefined ? { dst, kind: "blackhole", target } : { dst, kind: "via", via, target };
}

export function desiredRoutes(view: VpcView): SubnetRoutes[] {
  const subnets = [...view.subnets].sort((a, b) => a.id.localeCompare(b.id));
  const out: SubnetRoutes[] = [];
  subnets.forEach((s, i) => {
    const table = tableOf(s.id, view.routeTables);
    const routes = (table?.Routes ?? [])
      .map((r) => linuxRoute(r, view))
      .filter((r): r is LinuxRoute => r !== undefined)
      .sort((a, b) => a.dst.localeCompare(b.dst));
    // No default route in EC2 means no way out; without this the container's own default
    // (the Docker bridge) would be used.
    if (!routes.some((r) => r.dst === "0.0.0.0/0"))
      routes.push({ dst: "0.0.0.0/0", kind: "unreachable" });
    out.push({
      subnet: s.id,
      cidr: s.cidr,
      table: FIRST_TABLE + i,
      routeTable: table?.RouteTableId ?? "none",
      routes,
    });
  });
  return out;
}

/** One line per route, for comparing states and for logs. */
export function routeKey(r: LinuxRoute): string {
  switch (r.kind) {
    case "via":
      return `${r.dst} via ${r.via}`;
    case "vpc":
    case "internet":
    case "unreachable":
      return `${r.dst} ${r.kind}`;
    case "blackhole":
      return `${r.dst} blackhole`;
  }
}
