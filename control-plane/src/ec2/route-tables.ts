import {
  DescribeRouteTablesCommand,
  type Route,
  type RouteTable,
  type Tag,
} from "@aws-sdk/client-ec2";
import type { Fleet, ManagedAssociation, ManagedRoute } from "../fleet/types.ts";
import type { Ec2 } from "./client.ts";
import type { TableFences } from "./fences.ts";
import { pagedById } from "./paging.ts";

/**
 * Reads of the fleet's route tables: what each managed route and subnet association points at,
 * and each table's tags. Nothing here writes.
 */

export type RouteTarget =
  | { kind: "missing" }
  | { kind: "eni"; eni: string; blackhole: boolean }
  /** Points at something that is not an ENI (gateway, peering, ...): shown by its id. */
  | { kind: "other"; target: string };

/**
 * A managed unit and where it points now. For an association: the ENI of the member whose
 * table the subnet is associated with, `other` (that table's id) for a table outside its
 * group, `missing` when the subnet has no explicit association (or does not exist).
 */
export type ManagedRouteState = ManagedRoute & { target: RouteTarget };

/** One route of a table, managed or not. */
export interface TableRoute {
  /** CIDR, or prefix list id. */
  destination: string;
  target: RouteTarget;
}

export interface TableState {
  id: string;
  vpcId: string;
  /** Carries the fleet tag (the IAM policy only allows writes to tables that do). */
  fleetTagged: boolean;
  /** The sides' fence tags on the table (none until the controller first writes one). */
  fences: TableFences;
  /**
   * Subnets explicitly associated with the table, and all its routes. Always set by
   * describeManagedTables; optional so that views built by hand need not list them.
   */
  subnets?: string[];
  routes?: TableRoute[];
}

export interface ManagedTables {
  tables: TableState[];
  /** Managed table ids that EC2 does not know. */
  missingTables: string[];
  routes: ManagedRouteState[];
}

export const isIpv6 = (cidr: string) => cidr.includes(":");

export function routeKey(table: string, destination: string): string {
  return `${table} ${destination}`;
}

export const isAssociation = (route: ManagedRoute): route is ManagedAssociation =>
  route.kind === "association";

function targetOf(route: Route): RouteTarget {
  if (route.NetworkInterfaceId)
    return { kind: "eni", eni: route.NetworkInterfaceId, blackhole: route.State === "blackhole" };
  const other =
    route.GatewayId ??
    route.NatGatewayId ??
    route.TransitGatewayId ??
    route.VpcPeeringConnectionId ??
    route.InstanceId ??
    route.EgressOnlyInternetGatewayId ??
    route.LocalGatewayId ??
    route.CarrierGatewayId ??
    "unknown";
  return { kind: "other", target: other };
}

/**
 * Route tables by id (or, with `by` "vpc-id", every table of the VPCs), filtered rather than
 * listed by id so that unknown ids are not an error.
 */
export async function describeTables(
  ec2: Ec2,
  ids: string[],
  by: "route-table-id" | "vpc-id" = "route-table-id",
): Promise<Map<string, RouteTable>> {
  const tables = new Map<string, RouteTable>();
  await pagedById(ids, async (chunk, NextToken) => {
    const page = await ec2.call("DescribeRouteTables", (sdk, opts) =>
      sdk.send(
        new DescribeRouteTablesCommand({ Filters: [{ Name: by, Values: chunk }], NextToken }),
        opts,
      ),
    );
    for (const table of page.RouteTables ?? [])
      if (table.RouteTableId) tables.set(table.RouteTableId, table);
    return page.NextToken;
  });
  return tables;
}

export function tableRoutes(table: RouteTable): TableRoute[] {
  return (table.Routes ?? []).flatMap((route) => {
    const destination =
      route.DestinationCidrBlock ?? route.DestinationIpv6CidrBlock ?? route.DestinationPrefixListId;
    return destination ? [{ destination, target: targetOf(route) }] : [];
  });
}

/** Current target of every route (by table and destination) in `tables`. */
export function targets(tables: Iterable<RouteTable>): Map<string, RouteTarget> {
  const out = new Map<string, RouteTarget>();
  for (const table of tables)
    for (const { destination, target } of tableRoutes(table))
      if (table.RouteTableId) out.set(routeKey(table.RouteTableId, destination), target);
  return out;
}

/** Whether `tags` hold the fleet tag, which the IAM policy requires of everything written. */
export function hasFleetTag(tags: Tag[] | undefined, tag: Fleet["tag"]): boolean {
  return (tags ?? []).some((t) => t.Key === tag.key && t.Value === tag.value);
}

/** A subnet's explicit association with a route table. */
export interface SubnetAssociation {
  /** Changes on every ReplaceRouteTableAssociation: never kept between reads. */
  associationId: string;
  table: string;
}

/** Explicit subnet associations in `tables`, by subnet; ones being taken down are left out. */
export function associations(tables: Iterable<RouteTable>): Map<string, SubnetAssociation> {
  const out = new Map<string, SubnetAssociation>();
  for (const table of tables)
    for (const a of table.Associations ?? []) {
      const state = a.AssociationState?.State;
      if (state !== undefined && state !== "associated" && state !== "associating") continue;
      if (a.SubnetId && a.RouteTableAssociationId && table.RouteTableId)
        out.set(a.SubnetId, {
          associationId: a.RouteTableAssociationId,
          table: table.RouteTableId,
        });
    }
  return out;
}

/** Where an association unit points, given the table its subnet is associated with. */
export function associationTarget(
  unit: ManagedAssociation,
  table: string | undefined,
): RouteTarget {
  if (table === undefined) return { kind: "missing" };
  const member = unit.members.find((m) => m.table === table);
  return member
    ? { kind: "eni", eni: member.eni, blackhole: false }
    : { kind: "other", target: table };
}
