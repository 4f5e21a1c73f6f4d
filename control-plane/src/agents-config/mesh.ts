import type { Fleet, Pair } from "../fleet/types.ts";

/**
 * Who an appliance has tunnels to, as the controller expects them (docs/controller.md): for
 * each connection of its pair, one tunnel to each member of the far pair (a full mesh between
 * the two pairs), and one path probe named after the connection.
 */

/**
 * Both tunnels towards a far pair carry the same selectors (this VPC to that one); the lower
 * priority carries the traffic. The far pair's preferred member's tunnel does: that is where
 * the far pair's routes point when nothing has failed, so traffic crosses one member each way.
 */
export const TUNNEL_PRIORITY = { preferred: 100, other: 200 } as const;

export interface MeshTunnel {
  connection: string;
  /** The far appliance; the tunnel is named after it. */
  far: string;
  priority: number;
}

export interface MeshPath {
  /** The path's name: the controller looks paths up by connection. */
  connection: string;
  /** The far appliance whose agent answers it: the far pair's preferred member. */
  target: string;
}

export interface Mesh {
  tunnels: MeshTunnel[];
  paths: MeshPath[];
}

/** In the fleet's order of connections, each far pair's members in their pair's order. */
export function meshOf(fleet: Fleet, appliance: string): Mesh {
  const pair = fleet.pairs.find((p) => p.members.includes(appliance));
  const mesh: Mesh = { tunnels: [], paths: [] };
  if (pair === undefined) return mesh;
  const pairs = new Map(fleet.pairs.map((p) => [p.name, p]));
  for (const c of fleet.connections) {
    if (c.kind === "aws-vpn" || !c.between.includes(pair.name)) continue;
    const far = farPair(pairs, c.between, pair.name);
    for (const member of far.members) {
      const priority = member === far.preferred ? TUNNEL_PRIORITY.preferred : TUNNEL_PRIORITY.other;
      mesh.tunnels.push({ connection: c.name, far: member, priority });
    }
    mesh.paths.push({ connection: c.name, target: far.preferred });
  }
  return mesh;
}

function farPair(pairs: Map<string, Pair>, between: [string, string], near: string): Pair {
  const name = between[0] === near ? between[1] : between[0];
  const pair = pairs.get(name);
  // A loaded fleet resolves every pair a connection names.
  if (pair === undefined) throw new Error(`meshOf: connection names unknown pair ${name}`);
  return pair;
}
