import type { Fleet, ManagedRoute } from "./types.ts";

/**
 * The routes the fleet owns, derived from the resolved fleet. These are the only routes the
 * controller may create, replace or read as its own; anything else in a route table belongs
 * to someone else.
 */

/**
 * For each connection, for each side's pair, for each route table of that pair's VPC: one
 * route per CIDR of the other side's VPC. Ordered as the file lists connections, sides,
 * route tables and CIDRs, so the same fleet always yields the same list.
 */
export function managedRoutes(fleet: Fleet): ManagedRoute[] {
  const pairs = new Map(fleet.pairs.map((p) => [p.name, p]));
  const vpcs = new Map(fleet.vpcs.map((v) => [v.name, v]));
  const vpcOfPair = (name: string) => {
    const vpc = vpcs.get(pairs.get(name)?.vpc ?? "");
    if (!vpc) throw new Error(`managedRoutes: pair ${name} does not resolve to a VPC`);
    return vpc;
  };
  return fleet.connections.flatMap((c) => {
    const [left, right] = c.between;
    const sides: [string, string][] = [
      [left, right],
      [right, left],
    ];
    return sides.flatMap(([pair, other]) => {
      const here = vpcOfPair(pair);
      const there = vpcOfPair(other);
      return here.routeTables.flatMap((routeTable) =>
        there.cidrs.map((destination) => ({ connection: c.name, pair, routeTable, destination })),
      );
    });
  });
}

/** Route table id to the routes the fleet manages in it, in managedRoutes order. */
export function routesByTable(fleet: Fleet): Map<string, ManagedRoute[]> {
  const byTable = new Map<string, ManagedRoute[]>();
  for (const route of managedRoutes(fleet)) {
    const list = byTable.get(route.routeTable);
    if (list) list.push(route);
    else byTable.set(route.routeTable, [route]);
  }
  return byTable;
}
