import {
  AssociateRouteTableCommand,
  ReplaceRouteTableAssociationCommand,
  type RouteTable,
} from "@aws-sdk/client-ec2";
import type { ManagedAssociation } from "../fleet/types.ts";
import { type CallGuard, type Ec2, isCode } from "./client.ts";
import { associations, describeTables, type SubnetAssociation } from "./route-tables.ts";
import type { WriteAction } from "./route-writes.ts";

/** Swap mode's units: which table a subnet is associated with, and moving it to another. */

/**
 * Each unit's subnet association, read by subnet (association ids change on every swap): from
 * its group's tables (one DescribeRouteTables per 100, unless `known` holds them already),
 * and for subnets on neither, from every table of those groups' VPCs (one more call, paged).
 * Not the `association.subnet-id` filter: moto 5.2.5 matches it only when a table's subnets
 * and the filter's values are subsets of one another, not when they merely overlap.
 */
export async function readAssociations(
  ec2: Ec2,
  units: ManagedAssociation[],
  known?: ReadonlyMap<string, RouteTable>,
): Promise<Map<string, SubnetAssociation>> {
  const groupTables = [...new Set(units.flatMap((u) => u.members.map((m) => m.table)))];
  const tables = known ?? (await describeTables(ec2, groupTables));
  const found = (ids: Iterable<string>) => [...ids].flatMap((id) => tables.get(id) ?? []);
  const all = associations(found(groupTables));
  const astray = units.filter((u) => !all.has(u.subnet));
  const vpcs = [
    ...new Set(found(astray.flatMap((u) => u.members.map((m) => m.table))).map((t) => t.VpcId)),
  ].filter((id): id is string => id !== undefined);
  if (vpcs.length > 0) {
    const wanted = new Set(astray.map((u) => u.subnet));
    const elsewhere = associations((await describeTables(ec2, vpcs, "vpc-id")).values());
    for (const [subnet, a] of elsewhere) if (wanted.has(subnet)) all.set(subnet, a);
  }
  return all;
}

async function replaceAssociation(
  ec2: Ec2,
  associationId: string,
  table: string,
  guard: CallGuard | undefined,
): Promise<void> {
  const input = { AssociationId: associationId, RouteTableId: table };
  await ec2.call(
    "ReplaceRouteTableAssociation",
    (sdk, o) => sdk.send(new ReplaceRouteTableAssociationCommand(input), o),
    guard,
  );
}

async function associate(
  ec2: Ec2,
  subnet: string,
  table: string,
  guard: CallGuard | undefined,
): Promise<void> {
  const input = { SubnetId: subnet, RouteTableId: table };
  await ec2.call(
    "AssociateRouteTable",
    (sdk, o) => sdk.send(new AssociateRouteTableCommand(input), o),
    guard,
  );
}

/** The table of the member whose ENI is `eni`: where the unit's subnet goes to point at it. */
export function tableFor(unit: ManagedAssociation, eni: string): string {
  const member = unit.members.find((m) => m.eni === eni);
  // The engine only ever targets a member; anything else is a caller's bug, not EC2's answer.
  if (!member)
    throw new Error(
      `writeRoutes: ${eni} is no member of ${unit.pair}; ${unit.subnet} has no table for it`,
    );
  return member.table;
}

/**
 * Associates the unit's subnet with `table`, from the association read a moment before:
 * ReplaceRouteTableAssociation, or AssociateRouteTable when the subnet had none. If the
 * association changed in between (another writer, or an attempt of ours that timed out after
 * EC2 had made it), it is read again and one more step taken; each step runs at most once.
 */
export async function moveSubnet(
  ec2: Ec2,
  unit: ManagedAssociation,
  table: string,
  read: SubnetAssociation | undefined,
  guard?: CallGuard,
): Promise<WriteAction> {
  if (read?.table === table) return "skipped";
  const step = async (a: SubnetAssociation | undefined): Promise<WriteAction> => {
    if (a) await replaceAssociation(ec2, a.associationId, table, guard);
    else await associate(ec2, unit.subnet, table, guard);
    return a ? "replaced" : "created";
  };
  try {
    return await step(read);
  } catch (error) {
    if (!isCode(error, ["InvalidAssociationID.NotFound", "Resource.AlreadyAssociated"]))
      throw error;
  }
  const again = (await readAssociations(ec2, [unit])).get(unit.subnet);
  if (again?.table === table) return read ? "replaced" : "created";
  return step(again);
}
