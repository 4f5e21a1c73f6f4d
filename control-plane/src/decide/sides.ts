/**
 * The unit of decision is a connection side: the routes in one pair's VPC that lead to the
 * far pair's VPC (or, for an aws-vpn connection, to the networks behind AWS). This module derives the sides from the fleet and compares them with what
 * EC2 shows.
 */

import { connectionPairs } from "../fleet/connections.ts";
import { managedRoutes, vpcTables } from "../fleet/routes.ts";
import type { Fleet, ManagedRoute } from "../fleet/types.ts";
import type { ObservedRoute } from "./types.ts";

export interface Side {
  key: string;
  connection: string;
  pair: string;
  members: readonly [string, string];
  preferred: string;
  /** ENI per member name. */
  enis: Readonly<Record<string, string>>;
  /** Every managed table of the pair's VPC, swap member tables included: the fence tags go on these. */
  routeTables: string[];
  routes: ManagedRoute[];
}

export function sideKey(connection: string, pair: string): string {
  return `${connection}/${pair}`;
}

function find<T extends { name: string }>(items: T[], name: string, what: string): T {
  const item = items.find((i) => i.name === name);
  // The fleet loader resolves every reference, so this is a programming error.
  if (item === undefined) throw new Error(`fleet has no ${what} named ${name}`);
  return item;
}

const derived = new WeakMap<Fleet, readonly Side[]>();

/**
 * Both sides of every connection, in fleet order, each with its share of managedRoutes.
 * A loaded fleet never changes, so the sides are derived once per fleet object, not per tick.
 */
export function sidesOf(fleet: Fleet): readonly Side[] {
  let sides = derived.get(fleet);
  if (sides === undefined) {
    sides = Object.freeze(deriveSides(fleet));
    derived.set(fleet, sides);
  }
  return sides;
}

function deriveSides(fleet: Fleet): Side[] {
  const routes = managedRoutes(fleet);
  return fleet.connections.flatMap((connection) =>
    connectionPairs(connection).map((pairName) => {
      const pair = find(fleet.pairs, pairName, "pair");
      const enis = Object.fromEntries(
        pair.members.map((m) => [m, find(fleet.appliances, m, "appliance").eni]),
      );
      return {
        key: sideKey(connection.name, pair.name),
        connection: connection.name,
        pair: pair.name,
        members: pair.members,
        preferred: pair.preferred,
        enis,
        routeTables: vpcTables(find(fleet.vpcs, pair.vpc, "vpc")),
        routes: routes.filter((r) => r.connection === connection.name && r.pair === pair.name),
      };
    }),
  );
}

function routeId(r: { routeTable: string; destination: string }): string {
  return `${r.routeTable} ${r.destination}`;
}

/** The ENI each managed route points at now; missing routes map to null. */
export function observedEnis(side: Side, observed: ObservedRoute[]): Map<string, string | null> {
  const byId = new Map(observed.map((r) => [routeId(r), r.eni]));
  return new Map(side.routes.map((r) => [routeId(r), byId.get(routeId(r)) ?? null]));
}

/**
 * The member every present managed route points at, or undefined when they are missing,
 * split between members, or point at something that is not a member.
 */
export function routesTarget(side: Side, enis: Map<string, string | null>): string | undefined {
  const present = new Set([...enis.values()].filter((e) => e !== null));
  if (present.size !== 1) return undefined;
  const [eni] = present;
  return side.members.find((m) => side.enis[m] === eni);
}

/** The managed routes that do not point at `member` yet. */
export function drifted(
  side: Side,
  enis: Map<string, string | null>,
  member: string,
): ManagedRoute[] {
  return side.routes.filter((r) => enis.get(routeId(r)) !== side.enis[member]);
}
