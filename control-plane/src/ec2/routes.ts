import {
  AssociateRouteTableCommand,
  CreateRouteCommand,
  CreateTagsCommand,
  DescribeInstancesCommand,
  DescribeRouteTablesCommand,
  type Instance,
  ReplaceRouteCommand,
  ReplaceRouteTableAssociationCommand,
  type Route,
  type RouteTable,
  type Tag,
} from "@aws-sdk/client-ec2";
import { FENCE_TAGS } from "../fleet/fence-tags.ts";
import { fleetTables } from "../fleet/routes.ts";
import type { Fleet, ManagedAssociation, ManagedRoute, ManagedRouteEntry } from "../fleet/types.ts";
import { type Ec2, Ec2Error } from "./client.ts";

/**
 * The only module that reads or writes VPC routes and subnet associations. Writes go to the
 * routes and subnets it is given and to no other: the caller passes the fleet's managed units,
 * and nothing here lists a table's routes or associations in order to change them.
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
  /** Undefined until the first complete, well-formed fence is written. */
  fence: Fence | undefined;
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

const isAssociation = (route: ManagedRoute): route is ManagedAssociation =>
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
 * Runs `page` over `ids` (deduplicated) in chunks of 100, following NextToken. `page` consumes
 * one answer and returns its NextToken.
 */
export async function pagedById(
  ids: string[],
  page: (chunk: string[], nextToken: string | undefined) => Promise<string | undefined>,
): Promise<void> {
  for (const chunk of chunks([...new Set(ids)], IDS_PER_REQUEST)) {
    let nextToken: string | undefined;
    do nextToken = await page(chunk, nextToken);
    while (nextToken);
  }
}

/**
 * Route tables by id (or, with `by` "vpc-id", every table of the VPCs), filtered rather than
 * listed by id so that unknown ids are not an error.
 */
async function describeTables(
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

function tableRoutes(table: RouteTable): TableRoute[] {
  return (table.Routes ?? []).flatMap((route) => {
    const destination =
      route.DestinationCidrBlock ?? route.DestinationIpv6CidrBlock ?? route.DestinationPrefixListId;
    return destination ? [{ destination, target: targetOf(route) }] : [];
  });
}

/** Current target of every route (by table and destination) in `tables`. */
function targets(tables: Iterable<RouteTable>): Map<string, RouteTarget> {
  const out = new Map<string, RouteTarget>();
  for (const table of tables)
    for (const { destination, target } of tableRoutes(table))
      if (table.RouteTableId) out.set(routeKey(table.RouteTableId, destination), target);
  return out;
}

/** A subnet's explicit association with a route table. */
interface SubnetAssociation {
  /** Changes on every ReplaceRouteTableAssociation: never kept between reads. */
  associationId: string;
  table: string;
}

/** Explicit subnet associations in `tables`, by subnet; ones being taken down are left out. */
function associations(tables: Iterable<RouteTable>): Map<string, SubnetAssociation> {
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

/**
 * Each unit's subnet association, read by subnet (association ids change on every swap): from
 * its group's tables (one DescribeRouteTables per 100, unless `known` holds them already),
 * and for subnets on neither, from every table of those groups' VPCs (one more call, paged).
 * Not the `association.subnet-id` filter: moto 5.2.5 matches it only when a table's subnets
 * and the filter's values are subsets of one another, not when they merely overlap.
 */
async function readAssociations(
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

/** Where an association unit points, given the table its subnet is associated with. */
function associationTarget(unit: ManagedAssociation, table: string | undefined): RouteTarget {
  if (table === undefined) return { kind: "missing" };
  const member = unit.members.find((m) => m.table === table);
  return member
    ? { kind: "eni", eni: member.eni, blackhole: false }
    : { kind: "other", target: table };
}

/** Whether `tags` hold the fleet tag, which the IAM policy requires of everything written. */
export function hasFleetTag(tags: Tag[] | undefined, tag: Fleet["tag"]): boolean {
  return (tags ?? []).some((t) => t.Key === tag.key && t.Value === tag.value);
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
 * The fleet's route tables, in-place and swap member tables (one DescribeRouteTables per 100
 * tables), and, for each of `routes`, where it points now. An association whose subnet is on
 * neither table of its group costs one more DescribeRouteTables, to name the table it is on.
 */
export async function describeManagedTables(
  ec2: Ec2,
  fleet: Pick<Fleet, "vpcs" | "tag">,
  routes: ManagedRoute[],
): Promise<ManagedTables> {
  const ids = fleetTables(fleet);
  const found = await describeTables(ec2, ids);
  const tables: TableState[] = [];
  for (const table of found.values()) {
    const tags = table.Tags ?? [];
    tables.push({
      id: table.RouteTableId ?? "",
      vpcId: table.VpcId ?? "",
      fleetTagged: hasFleetTag(tags, fleet.tag),
      fence: readFence(tags),
      subnets: [...associations([table]).keys()],
      routes: tableRoutes(table),
    });
  }
  const current = targets(found.values());
  const associated = await readAssociations(ec2, routes.filter(isAssociation), found);
  return {
    tables,
    missingTables: ids.filter((id) => !found.has(id)),
    routes: routes.map(
      (route): ManagedRouteState => ({
        ...route,
        target: isAssociation(route)
          ? associationTarget(route, associated.get(route.subnet)?.table)
          : (current.get(routeKey(route.routeTable, route.destination)) ?? { kind: "missing" }),
      }),
    ),
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
export async function replaceRoute(ec2: Ec2, route: ManagedRoute, eni: string): Promise<void> {
  if (isAssociation(route))
    throw new Error(`replaceRoute: ${route.subnet} is a subnet association, not a route`);
  await ec2.call("ReplaceRoute", (sdk, opts) =>
    sdk.send(new ReplaceRouteCommand(routeInput(route, eni)), opts),
  );
}

async function writeOne(ec2: Ec2, route: ManagedRouteEntry, eni: string): Promise<WriteAction> {
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

async function replaceAssociation(ec2: Ec2, associationId: string, table: string): Promise<void> {
  await ec2.call("ReplaceRouteTableAssociation", (sdk, opts) =>
    sdk.send(
      new ReplaceRouteTableAssociationCommand({
        AssociationId: associationId,
        RouteTableId: table,
      }),
      opts,
    ),
  );
}

async function associate(ec2: Ec2, subnet: string, table: string): Promise<void> {
  await ec2.call("AssociateRouteTable", (sdk, opts) =>
    sdk.send(new AssociateRouteTableCommand({ SubnetId: subnet, RouteTableId: table }), opts),
  );
}

/** The table of the member whose ENI is `eni`: where the unit's subnet goes to point at it. */
function tableFor(unit: ManagedAssociation, eni: string): string {
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
async function moveSubnet(
  ec2: Ec2,
  unit: ManagedAssociation,
  table: string,
  read: SubnetAssociation | undefined,
): Promise<WriteAction> {
  if (read?.table === table) return "skipped";
  const step = async (a: SubnetAssociation | undefined): Promise<WriteAction> => {
    if (a) await replaceAssociation(ec2, a.associationId, table);
    else await associate(ec2, unit.subnet, table);
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
  opts: { precheck: boolean },
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
        return { route, action: await moveSubnet(ec2, route, table, associated.get(route.subnet)) };
      }
      if (onEni(route)) return { route, action: "skipped" };
      return { route, action: await writeOne(ec2, route, eni) };
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

/**
 * Records the move on every table in one CreateTags per 1000 tables (EC2's per-call maximum).
 * For a swap-mode side, `tables` holds its member tables (Side.routeTables).
 */
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
