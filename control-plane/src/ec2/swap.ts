import { DescribeSubnetsCommand } from "@aws-sdk/client-ec2";
import { preparedRoutes, swapSubnets } from "../fleet/routes.ts";
import type { Fleet, ManagedRoute } from "../fleet/types.ts";
import type { Ec2 } from "./client.ts";
import { pagedById } from "./paging.ts";
import { hasFleetTag } from "./route-tables.ts";
import { RouteWriteError, type WriteOutcome, writeRoutes } from "./route-writes.ts";

/**
 * Swap mode's upkeep (docs/decisions/0009-association-swap.md): the member tables a failover
 * moves subnets between must hold, before the failover, the routes of their own member.
 */

/**
 * Points every prepared route of every swap group at its table's own member: one
 * writeRoutes with precheck per member, so a table already prepared costs one
 * DescribeRouteTables (per 100 tables) and no write. Moves no traffic: a member's table
 * only ever points at that member, whichever table the subnets use. Throws RouteWriteError
 * listing what failed once every member has been tried. `only`: the tables of this member
 * alone, for a controller co-located on it, which writes routes towards itself only.
 */
export async function prepareSwapTables(
  ec2: Ec2,
  fleet: Fleet,
  opts: { only?: string } = {},
): Promise<WriteOutcome[]> {
  const byEni = new Map<string, ManagedRoute[]>();
  for (const { route, member, eni } of preparedRoutes(fleet)) {
    if (opts.only !== undefined && member !== opts.only) continue;
    const list = byEni.get(eni);
    if (list) list.push(route);
    else byEni.set(eni, [route]);
  }
  const settled = await Promise.allSettled(
    [...byEni].map(([eni, routes]) => writeRoutes(ec2, routes, eni, { precheck: true })),
  );
  const outcomes: WriteOutcome[] = [];
  const failures: RouteWriteError["failures"] = [];
  for (const result of settled) {
    if (result.status === "fulfilled") outcomes.push(...result.value);
    else if (result.reason instanceof RouteWriteError) {
      outcomes.push(...result.reason.outcomes);
      failures.push(...result.reason.failures);
    } else throw result.reason;
  }
  if (failures.length > 0) throw new RouteWriteError(outcomes, failures);
  return outcomes;
}

export interface SubnetState {
  vpcId: string;
  /** Carries the fleet tag (the IAM policy only lets the controller move subnets that do). */
  fleetTagged: boolean;
}

/**
 * The fleet's swap subnets as EC2 knows them (absent from the map when it does not), for the
 * EC2-backed validate: one DescribeSubnets per 100, filtered rather than listed by id so that
 * unknown ids are not an error. The controller itself never needs this.
 */
export async function describeSwapSubnets(
  ec2: Ec2,
  fleet: Pick<Fleet, "vpcs" | "tag">,
): Promise<Map<string, SubnetState>> {
  const out = new Map<string, SubnetState>();
  await pagedById(swapSubnets(fleet), async (Values, NextToken) => {
    const page = await ec2.call("DescribeSubnets", (sdk, opts) =>
      sdk.send(
        new DescribeSubnetsCommand({ Filters: [{ Name: "subnet-id", Values }], NextToken }),
        opts,
      ),
    );
    for (const subnet of page.Subnets ?? [])
      if (subnet.SubnetId)
        out.set(subnet.SubnetId, {
          vpcId: subnet.VpcId ?? "",
          fleetTagged: hasFleetTag(subnet.Tags, fleet.tag),
        });
    return page.NextToken;
  });
  return out;
}
