import {
  ASSOCIATION,
  type Fleet,
  type ManagedAssociation,
  type ManagedRoute,
  type ManagedRouteEntry,
  type Vpc,
} from "./types.ts";

/**
 * The routes the fleet owns, derived from the resolved fleet. These are the only routes (and
 * subnet associations) the controller may create, replace or read as its own; anything else
 * in a route table belongs to someone else.
 */

/** A route a swap group's member table holds for its member, kept by prepareSwapTables. */
export interface PreparedRoute {
  route: ManagedRouteEntry;
  member: string;
  eni: string;
}

function resolver(fleet: Fleet) {
  const pairs = new Map(fleet.pairs.map((p) => [p.name, p]));
  const vpcs = new Map(fleet.vpcs.map((v) => [v.name, v]));
  const enis = new Map(fleet.appliances.map((a) => [a.name, a.eni]));
  const pairOf = (name: string) => {
    const pair = pairs.get(name);
    if (!pair) throw new Error(`managedRoutes: no pair ${name}`);
    return pair;
  };
  return {
    pairOf,
    vpcOfPair(name: string): Vpc {
      const vpc = vpcs.get(pairOf(name).vpc);
      if (!vpc) throw new Error(`managedRoutes: pair ${name} does not resolve to a VPC`);
      return vpc;
    },
    eniOf(member: string): string {
      const eni = enis.get(member);
      if (eni === undefined) throw new Error(`managedRoutes: no appliance ${member}`);
      return eni;
    },
  };
}

/**
 * Each connection's sides as [connection, pair here, destinations], in file order: a
 * site-to-site side routes the far pair's VPC, an aws-vpn side the networks behind AWS.
 */
function sides(fleet: Fleet, r: ReturnType<typeof resolver>): Array<[string, string, string[]]> {
  return fleet.connections.flatMap((c): Array<[string, string, string[]]> => {
    if (c.kind === "aws-vpn") return [[c.name, c.pair, c.remoteCidrs]];
    const [left, right] = c.between;
    return [
      [c.name, left, r.vpcOfPair(right).cidrs],
      [c.name, right, r.vpcOfPair(left).cidrs],
    ];
  });
}

/**
 * For each connection, for each side's pair: for each in-place route table of that pair's VPC,
 * one route per destination of the side; then, for each subnet of the VPC's swap groups,
 * one association. Ordered as the file lists connections, sides, tables, CIDRs, groups and
 * subnets, so the same fleet always yields the same list.
 */
export function managedRoutes(fleet: Fleet): ManagedRoute[] {
  const r = resolver(fleet);
  return sides(fleet, r).flatMap(([connection, pair, destinations]): ManagedRoute[] => {
    const here = r.vpcOfPair(pair);
    const routes = here.routeTables.flatMap((routeTable) =>
      destinations.map((destination) => ({ connection, pair, routeTable, destination })),
    );
    const members = r.pairOf(pair).members;
    const associations = (here.swap ?? []).flatMap((group) =>
      group.subnets.map(
        (subnet): ManagedAssociation => ({
          kind: "association",
          connection,
          pair,
          routeTable: subnet,
          destination: ASSOCIATION,
          subnet,
          members: members.map((member) => ({
            member,
            eni: r.eniOf(member),
            table: group.tables[member] as string,
          })),
        }),
      ),
    );
    return [...routes, ...associations];
  });
}

/**
 * The routes each swap group's member tables hold for their member: for each side whose VPC
 * has swap groups, for each group and member, one route per destination of the side, pointing at
 * that member's ENI. The decision engine never sees these; they are prepared ahead of a
 * failover so that moving a subnet moves all its routes at once.
 */
export function preparedRoutes(fleet: Fleet): PreparedRoute[] {
  const r = resolver(fleet);
  return sides(fleet, r).flatMap(([connection, pair, destinations]) => {
    const here = r.vpcOfPair(pair);
    return (here.swap ?? []).flatMap((group) =>
      Object.entries(group.tables).flatMap(([member, routeTable]) =>
        destinations.map((destination) => ({
          route: { connection, pair, routeTable, destination },
          member,
          eni: r.eniOf(member),
        })),
      ),
    );
  });
}

/** A VPC's swap member tables, group by group in member order. */
export function swapTables(vpc: Vpc): string[] {
  return (vpc.swap ?? []).flatMap((g) => Object.values(g.tables));
}

/**
 * Every table of a VPC the fleet manages: in-place tables, then swap member tables. A side's
 * fence tags go on all of them.
 */
export function vpcTables(vpc: Vpc): string[] {
  return [...vpc.routeTables, ...swapTables(vpc)];
}

/** Every managed table of the fleet, VPC by VPC. */
export function fleetTables(fleet: Pick<Fleet, "vpcs">): string[] {
  return fleet.vpcs.flatMap(vpcTables);
}

/** Every subnet of the fleet's swap groups. */
export function swapSubnets(fleet: Pick<Fleet, "vpcs">): string[] {
  return fleet.vpcs.flatMap((v) => (v.swap ?? []).flatMap((g) => g.subnets));
}

/** Route table id to the in-place routes the fleet manages in it, in managedRoutes order. */
export function routesByTable(fleet: Fleet): Map<string, ManagedRoute[]> {
  const byTable = new Map<string, ManagedRoute[]>();
  for (const route of managedRoutes(fleet)) {
    if (route.kind === "association") continue;
    const list = byTable.get(route.routeTable);
    if (list) list.push(route);
    else byTable.set(route.routeTable, [route]);
  }
  return byTable;
}
