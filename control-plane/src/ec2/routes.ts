import {
  CreateRouteCommand,
  CreateTagsCommand,
  DescribeInstancesCommand,
  DescribeRouteTablesCommand,
  type Instance,
  ReplaceRouteCommand,
  type Route,
  type RouteTable,
  type Tag,
} from "@aws-sdk/client-ec2";
import { FENCE_TAGS } from "../fleet/fence-tags.ts";
import type { Fleet, ManagedRoute } from "../fleet/types.ts";
import { type Ec2, Ec2Error } from "./client.ts";

/**
 * The only module that reads or writes VPC routes. Writes go to the routes it is given and to
 * no other: the caller passes the fleet's managed routes, and nothing here lists a table's
 * routes in order to change them.
 */

export interface Fence {
  /** Appliance name that holds the routes. */
  active: string;
  /** Increases with every move; a writer holding an older epoch must stand down. */
  epoch: number;
  /** ISO 8601 time of the move. */
  at: string;
}

export type RouteTarget =
  | { kind: "missing" }
  | { kind: "eni"; eni: string; blackhole: boolean }
  /** Points at something that is not an ENI (gateway, peering, ...): shown by its id. */
  | { kind: "other"; target: string };

export interface ManagedRouteState extends ManagedRoute {
  target: RouteTarget;
}

export interface TableState {
  id: string;
  vpcId: string;
  /** Carries the fleet tag (the IAM policy only allows writes to tables that do). */
  fleetTagged: boolean;
  /** Undefined until the first complete, well-formed fence is written. */
  fence: Fence | undefined;
}

export interface ManagedTables {
  tables: TableState[];
  /** Managed table ids that EC2 does not know. */
  missingTables: string[];
  routes: ManagedRouteState[];
}

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

export interface InstanceState {
  instanceId: string;
  /** pending, running, stopping, stopped, shutting-down, terminated. */
  state: string;
  az: string | undefined;
  vpcId: string | undefined;
  sourceDestCheck: boolean | undefined;
  enis: Array<{ eni: string; sourceDestCheck: boolean | undefined }>;
}

/** Ids per request: keeps each filter's value list and each answer small. */
const IDS_PER_REQUEST = 100;

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const isIpv6 = (cidr: string) => cidr.includes(":");

function routeKey(table: string, destination: string): string {
  return `${table} ${destination}`;
}

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
 * Runs `page` over `ids` in chunks, following NextToken. `page` consumes one answer and
 * returns its NextToken.
 */
async function pagedById(
  ids: string[],
  page: (chunk: string[], nextToken: string | undefined) => Promise<string | undefined>,
): Promise<void> {
  for (const chunk of chunks([...new Set(ids)], IDS_PER_REQUEST)) {
    let nextToken: string | undefined;
    do nextToken = await page(chunk, nextToken);
    while (nextToken);
  }
}

/** Route tables by id, filtered rather than listed by id so that unknown ids are not an error. */
async function describeTables(ec2: Ec2, ids: string[]): Promise<Map<string, RouteTable>> {
  const tables = new Map<string, RouteTable>();
  await pagedById(ids, async (chunk, NextToken) => {
    const page = await ec2.call("DescribeRouteTables", (sdk, opts) =>
      sdk.send(
        new DescribeRouteTablesCommand({
          Filters: [{ Name: "route-table-id", Values: chunk }],
          NextToken,
        }),
        opts,
      ),
    );
    for (const table of page.RouteTables ?? [])
      if (table.RouteTableId) tables.set(table.RouteTableId, table);
    return page.NextToken;
  });
  return tables;
}

/** Current target of every route (by table and destination) in `tables`. */
function targets(tables: Iterable<RouteTable>): Map<string, RouteTarget> {
  const out = new Map<string, RouteTarget>();
  for (const table of tables) {
    for (const route of table.Routes ?? []) {
      const destination = route.DestinationCidrBlock ?? route.DestinationIpv6CidrBlock;
      if (table.RouteTableId && destination)
        out.set(routeKey(table.RouteTableId, destination), targetOf(route));
    }
  }
  return out;
}

function readFence(tags: Tag[]): Fence | undefined {
  const value = (key: string) => tags.find((t) => t.Key === key)?.Value;
  const active = value(FENCE_TAGS.active);
  const epoch = Number(value(FENCE_TAGS.epoch));
  const at = value(FENCE_TAGS.at);
  if (!active || !at || !Number.isSafeInteger(epoch)) return undefined;
  return { active, epoch, at };
}

/**
 * The fleet's route tables (one DescribeRouteTables per 100 tables) and, for each of
 * `routes`, where it points now.
 */
export async function describeManagedTables(
  ec2: Ec2,
  fleet: Pick<Fleet, "vpcs" | "tag">,
  routes: ManagedRoute[],
): Promise<ManagedTables> {
  const ids = fleet.vpcs.flatMap((v) => v.routeTables);
  const found = await describeTables(ec2, ids);
  const tables: TableState[] = [];
  for (const table of found.values()) {
    const tags = table.Tags ?? [];
    tables.push({
      id: table.RouteTableId ?? "",
      vpcId: table.VpcId ?? "",
      fleetTagged: tags.some((t) => t.Key === fleet.tag.key && t.Value === fleet.tag.value),
      fence: readFence(tags),
    });
  }
  const current = targets(found.values());
  return {
    tables,
    missingTables: ids.filter((id) => !found.has(id)),
    routes: routes.map((route) => ({
      ...route,
      target: current.get(routeKey(route.routeTable, route.destination)) ?? { kind: "missing" },
    })),
  };
}

function isCode(error: unknown, codes: string[]): boolean {
  return error instanceof Ec2Error && codes.includes(error.code);
}

/**
 * EC2 (and moto) answer ReplaceRoute of a route that does not exist with InvalidParameterValue
 * ("There is no route defined ... Use CreateRoute instead"); InvalidRoute.NotFound is what
 * other route calls use. A genuinely invalid parameter fails CreateRoute in turn.
 */
const ROUTE_MISSING = ["InvalidRoute.NotFound", "InvalidParameterValue"];

function routeInput(route: ManagedRoute, eni: string) {
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
export async function replaceRoute(ec2: Ec2, route: ManagedRoute, eni: string): Promise<void> {
  await ec2.call("ReplaceRoute", (sdk, opts) =>
    sdk.send(new ReplaceRouteCommand(routeInput(route, eni)), opts),
  );
}

async function writeOne(ec2: Ec2, route: ManagedRoute, eni: string): Promise<WriteAction> {
  const replace = () => replaceRoute(ec2, route, eni);
  try {
    await replace();
    return "replaced";
  } catch (error) {
    if (!isCode(error, ROUTE_MISSING)) throw error;
  }
  try {
    await ec2.call("CreateRoute", (sdk, opts) =>
      sdk.send(new CreateRouteCommand(routeInput(route, eni)), opts),
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
 * Points each of `routes` at `eni`: ReplaceRoute, CreateRoute when the route is missing, and
 * ReplaceRoute again if it appeared meanwhile. With `precheck`, one DescribeRouteTables per 100
 * tables first, and routes already on `eni` are skipped. Writes run concurrently under the
 * client's limit; every route is tried, then RouteWriteError reports any that failed.
 */
export async function writeRoutes(
  ec2: Ec2,
  routes: ManagedRoute[],
  eni: string,
  opts: { precheck: boolean },
): Promise<WriteOutcome[]> {
  const current = opts.precheck
    ? targets(
        (
          await describeTables(
            ec2,
            routes.map((r) => r.routeTable),
          )
        ).values(),
      )
    : new Map<string, RouteTarget>();
  const onEni = (route: ManagedRoute) => {
    const target = current.get(routeKey(route.routeTable, route.destination));
    return target?.kind === "eni" && target.eni === eni;
  };
  const settled = await Promise.allSettled(
    routes.map(async (route): Promise<WriteOutcome> => {
      if (onEni(route)) return { route, action: "skipped" };
      return { route, action: await writeOne(ec2, route, eni) };
    }),
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

/** Records the move on every table in one CreateTags per 1000 tables (EC2's per-call maximum). */
export async function writeFenceTags(ec2: Ec2, tables: string[], fence: Fence): Promise<void> {
  const Tags = [
    { Key: FENCE_TAGS.active, Value: fence.active },
    { Key: FENCE_TAGS.epoch, Value: String(fence.epoch) },
    { Key: FENCE_TAGS.at, Value: fence.at },
  ];
  for (const Resources of chunks(tables, 1000)) {
    await ec2.call("CreateTags", (sdk, opts) =>
      sdk.send(new CreateTagsCommand({ Resources, Tags }), opts),
    );
  }
}

function instanceState(instance: Instance): InstanceState {
  return {
    instanceId: instance.InstanceId ?? "",
    state: instance.State?.Name ?? "unknown",
    az: instance.Placement?.AvailabilityZone,
    vpcId: instance.VpcId,
    sourceDestCheck: instance.SourceDestCheck,
    enis: (instance.NetworkInterfaces ?? []).map((n) => ({
      eni: n.NetworkInterfaceId ?? "",
      sourceDestCheck: n.SourceDestCheck,
    })),
  };
}

/**
 * State, AZ, VPC and SourceDestCheck of the instances (absent from the map when EC2 does not know
 * them). Filtered by id: EC2 throttles unfiltered, unpaginated DescribeInstances on a
 * smaller bucket.
 */
export async function describeInstances(
  ec2: Ec2,
  ids: string[],
): Promise<Map<string, InstanceState>> {
  const out = new Map<string, InstanceState>();
  await pagedById(ids, async (chunk, NextToken) => {
    const page = await ec2.call("DescribeInstances", (sdk, opts) =>
      sdk.send(
        new DescribeInstancesCommand({
          Filters: [{ Name: "instance-id", Values: chunk }],
          NextToken,
        }),
        opts,
      ),
    );
    for (const reservation of page.Reservations ?? [])
      for (const instance of reservation.Instances ?? []) {
        const state = instanceState(instance);
        out.set(state.instanceId, state);
      }
    return page.NextToken;
  });
  return out;
}
