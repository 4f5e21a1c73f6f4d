import { fleetTables } from "../fleet/routes.ts";
import type { Fleet, ManagedRoute } from "../fleet/types.ts";
import { readAssociations } from "./associations.ts";
import type { Ec2 } from "./client.ts";
import { readFences } from "./fences.ts";
import {
  associations,
  associationTarget,
  describeTables,
  hasFleetTag,
  isAssociation,
  type ManagedRouteState,
  type ManagedTables,
  routeKey,
  type TableState,
  tableRoutes,
  targets,
} from "./route-tables.ts";

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
      fences: readFences(tags),
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
