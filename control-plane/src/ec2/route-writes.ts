import { CreateRouteCommand, ReplaceRouteCommand } from "@aws-sdk/client-ec2";
import type { ManagedRoute, ManagedRouteEntry } from "../fleet/types.ts";
import { moveSubnet, readAssociations, tableFor } from "./associations.ts";
import { type CallGuard, type Ec2, Ec2Error, isCode } from "./client.ts";
import {
  describeTables,
  isAssociation,
  isIpv6,
  type RouteTarget,
  routeKey,
  type SubnetAssociation,
  targets,
} from "./route-tables.ts";

/**
 * Route writes: the only module that changes VPC routes and subnet associations. Writes go to
 * the units it is given and to no other: nothing here lists a table's routes or associations
 * in order to change them.
 */

/**
 * For a route: ReplaceRoute, CreateRoute. For an association: ReplaceRouteTableAssociation,
 * AssociateRouteTable (the subnet had no explicit association).
 */
export type WriteAction = "skipped" | "replaced" | "created";

export interface WriteOutcome {
  route: ManagedRoute;
  action: WriteAction;
}

/** Some writes failed; the others were done and are listed in `outcomes`. */
export class RouteWriteError extends Error {
  readonly outcomes: WriteOutcome[];
  readonly failures: Array<{ route: ManagedRoute; error: Ec2Error }>;
  constructor(outcomes: WriteOutcome[], failures: Array<{ route: ManagedRoute; error: Ec2Error }>) {
    const first = failures[0];
    super(
      `${failures.length} route write(s) failed` +
        (first
          ? `; first: ${first.route.routeTable} ${first.route.destination}: ${first.error.message}`
          : ""),
    );
    this.name = "RouteWriteError";
    this.outcomes = outcomes;
    this.failures = failures;
  }
}

/**
 * EC2 (and moto) answer ReplaceRoute of a route that does not exist with InvalidParameterValue
 * ("There is no route defined ... Use CreateRoute instead"); InvalidRoute.NotFound is what
 * other route calls use. A genuinely invalid parameter fails CreateRoute in turn.
 */
const ROUTE_MISSING = ["InvalidRoute.NotFound", "InvalidParameterValue"];

function routeInput(route: ManagedRouteEntry, eni: string) {
  return {
    RouteTableId: route.routeTable,
    ...(isIpv6(route.destination)
      ? { DestinationIpv6CidrBlock: route.destination }
      : { DestinationCidrBlock: route.destination }),
    NetworkInterfaceId: eni,
  };
}

/**
 * ReplaceRoute alone: points an existing route at `eni` and never creates one. A missing
 * route fails with one of ROUTE_MISSING's codes.
 */
export async function replaceRoute(
  ec2: Ec2,
  route: ManagedRoute,
  eni: string,
  opts: { guard?: CallGuard; dryRun?: boolean } = {},
): Promise<void> {
  if (isAssociation(route))
    throw new Error(`replaceRoute: ${route.subnet} is a subnet association, not a route`);
  const input = { ...routeInput(route, eni), DryRun: opts.dryRun };
  await ec2.call(
    "ReplaceRoute",
    (sdk, o) => sdk.send(new ReplaceRouteCommand(input), o),
    opts.guard,
  );
}

async function writeOne(
  ec2: Ec2,
  route: ManagedRouteEntry,
  eni: string,
  guard: CallGuard | undefined,
): Promise<WriteAction> {
  const replace = () => replaceRoute(ec2, route, eni, { guard });
  try {
    await replace();
    return "replaced";
  } catch (error) {
    if (!isCode(error, ROUTE_MISSING)) throw error;
  }
  try {
    await ec2.call(
      "CreateRoute",
      (sdk, o) => sdk.send(new CreateRouteCommand(routeInput(route, eni)), o),
      guard,
    );
    return "created";
  } catch (error) {
    if (!isCode(error, ["RouteAlreadyExists"])) throw error;
  }
  // Created in between (by another writer, or by an attempt of ours that timed out after EC2
  // had done it): replace it now. Each step runs at most once, so this cannot loop.
  await replace();
  return "replaced";
}

/**
 * Promise.allSettled over `items`, `width` at a time, results in input order. Writes are
 * paced by unit, not only by attempt: with every unit started at once, each throttled one
 * retries on its own while the client's slots are free during its backoff, and a bucket
 * that refills at 5 per second drew some 55 throttled attempts per route written (failover
 * benchmark, 500 routes); `width` units retrying at a time waste a few per second instead.
 */
async function settleAll<T, R>(
  items: T[],
  width: number,
  fn: (item: T) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const out: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { status: "fulfilled", value: await fn(items[i] as T) };
      } catch (reason) {
        out[i] = { status: "rejected", reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}

/**
 * Points each of `routes` at `eni`. A route: ReplaceRoute, CreateRoute when it is missing,
 * and ReplaceRoute again if it appeared meanwhile; with `precheck`, one DescribeRouteTables
 * per 100 tables first, and routes already on `eni` are skipped. An association: its subnet
 * goes to the table of the member owning `eni` (see moveSubnet). Associations are always read
 * first (one DescribeRouteTables per 100 member tables), since the write needs the current
 * association id, so subnets already there are skipped with or without `precheck`. Units are
 * written concurrently, as many at a time as the client has slots (see settleAll); every unit
 * is tried, then RouteWriteError reports any that failed.
 */
export async function writeRoutes(
  ec2: Ec2,
  routes: ManagedRoute[],
  eni: string,
  opts: { precheck: boolean; guard?: CallGuard },
): Promise<WriteOutcome[]> {
  const units = routes.filter(isAssociation);
  const tables = new Map(units.map((u) => [u, tableFor(u, eni)]));
  const entries = routes.filter((r) => !isAssociation(r));
  const [current, associated] = await Promise.all([
    opts.precheck && entries.length > 0
      ? describeTables(
          ec2,
          entries.map((r) => r.routeTable),
        ).then((found) => targets(found.values()))
      : new Map<string, RouteTarget>(),
    units.length > 0 ? readAssociations(ec2, units) : new Map<string, SubnetAssociation>(),
  ]);
  const onEni = (route: ManagedRoute) => {
    const target = current.get(routeKey(route.routeTable, route.destination));
    return target?.kind === "eni" && target.eni === eni;
  };
  const settled = await settleAll(
    routes,
    ec2.options.concurrency,
    async (route): Promise<WriteOutcome> => {
      if (isAssociation(route)) {
        const table = tables.get(route) as string;
        const read = associated.get(route.subnet);
        return { route, action: await moveSubnet(ec2, route, table, read, opts.guard) };
      }
      if (onEni(route)) return { route, action: "skipped" };
      return { route, action: await writeOne(ec2, route, eni, opts.guard) };
    },
  );
  const outcomes: WriteOutcome[] = [];
  const failures: Array<{ route: ManagedRoute; error: Ec2Error }> = [];
  settled.forEach((result, i) => {
    const route = routes[i] as ManagedRoute;
    if (result.status === "fulfilled") outcomes.push(result.value);
    else if (result.reason instanceof Ec2Error) failures.push({ route, error: result.reason });
    else throw result.reason;
  });
  if (failures.length > 0) throw new RouteWriteError(outcomes, failures);
  return outcomes;
}
