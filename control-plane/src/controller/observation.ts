/**
 * Turns what the controller gathered this tick (EC2's route tables and instances, each
 * agent's status) into the decision engine's Observation. Pure: the gathering is in
 * gather.ts, so this mapping is tested with tables.
 */

import type { AgentStatus } from "../../../common/agent-api/status.ts";
import { awsTunnelName } from "../../../common/aws-vpn/entry.ts";
import { newestFence } from "../decide/fence.ts";
import { observedEnis, routesTarget, type Side, sideKey } from "../decide/sides.ts";
import type {
  Ec2State,
  FenceTag,
  MemberObservation,
  Observation,
  ObservedRoute,
  SideObservation,
  TunnelState,
} from "../decide/types.ts";
import { sideFence } from "../ec2/fences.ts";
import type { ManagedTables } from "../ec2/route-tables.ts";
import { type FenceValue, fenceKey } from "../fleet/fence-tags.ts";
import type { Fleet } from "../fleet/types.ts";

export interface Gathered {
  now: number;
  /** Undefined when EC2 could not be read this tick: the engine then leaves every side alone. */
  tables: ManagedTables | undefined;
  /** EC2's view per instance id; an instance missing here is unknown. */
  instances: Map<string, Ec2State>;
  /** Per appliance name; undefined when its agent did not answer. */
  agents: Record<string, AgentStatus | undefined>;
}

/** EC2 instance state name to what the engine weighs; pending and unknown states carry no evidence. */
export function ec2StateOf(state: string, impaired: boolean): Ec2State {
  if (["stopping", "stopped", "shutting-down", "terminated"].includes(state)) return "stopped";
  if (state !== "running") return "unknown";
  return impaired ? "impaired" : "running";
}

function fenceTag(f: FenceValue): FenceTag | undefined {
  const at = Date.parse(f.at);
  if (Number.isNaN(at)) return undefined;
  return { active: f.active, epoch: f.epoch, ...(f.term ? { term: f.term } : {}), at };
}

/** Each side's routes and fences as EC2 shows them. */
export function sideObservations(sides: readonly Side[], tables: ManagedTables): SideObservation[] {
  const byId = new Map(tables.tables.map((t) => [t.id, t.fences]));
  return sides.map((side) => {
    const routes: ObservedRoute[] = tables.routes
      .filter((r) => r.connection === side.connection && r.pair === side.pair)
      .map((r) => ({
        routeTable: r.routeTable,
        destination: r.destination,
        // A blackholed route still names the member; the engine weighs that member's health.
        eni: r.target.kind === "eni" ? r.target.eni : null,
      }));
    const sideFences = side.routeTables.flatMap((t) => {
      const f = sideFence(byId.get(t), side.connection, side.pair);
      const tag = f ? fenceTag(f) : undefined;
      return tag ? [tag] : [];
    });
    const legacy = side.routeTables.some((t) => {
      const fences = byId.get(t);
      return fences?.legacy !== undefined && !fences.sides[fenceKey(side.connection, side.pair)];
    });
    return {
      connection: side.connection,
      pair: side.pair,
      routes,
      fences: sideFences,
      ...(legacy ? { legacyFences: true } : {}),
    };
  });
}

/** The member a side's routes belong to now, read the way the engine reads it: fence, else routes. */
export function currentOwner(side: Side, observed: SideObservation): string | undefined {
  return (
    newestFence(observed.fences, side.members)?.active ??
    routesTarget(side, observedEnis(side, observed.routes))
  );
}

/**
 * The tunnel from an appliance to a far appliance is the agent tunnel named after the far
 * appliance (on a1, the tunnel to b1 is "b1"). Connecting counts as down: it carries nothing.
 */
function tunnelTo(status: AgentStatus, name: string): TunnelState {
  const tunnel = status.tunnels.find((t) => t.name === name);
  if (tunnel === undefined) return "unknown";
  return tunnel.state === "up" ? "up" : "down";
}

/**
 * For each connection of `member`: the far members whose tunnels with it count, the far
 * side's owner (its tunnel carries the traffic), or both far members while it has none or
 * its agent does not answer (or its charon is restarting: `agents` holds witnesses only). A
 * far owner that went silent is the far side's failure: until the far side moves, a tunnel
 * down towards it says nothing about `member`, and counting it would fail the near pair over
 * together with the far one.
 */
function counterparts(
  member: string,
  sides: readonly Side[],
  owners: Map<string, string | undefined>,
  agents: Gathered["agents"],
): Array<{ connection: string; far: readonly string[] }> {
  return sides.flatMap((side) => {
    if (!side.members.includes(member)) return [];
    const far = sides.find((s) => s.connection === side.connection && s.pair !== side.pair);
    if (far === undefined) return [];
    const owner = owners.get(far.key);
    const trusted = owner !== undefined && agents[owner] !== undefined;
    return [{ connection: side.connection, far: trusted ? [owner] : far.members }];
  });
}

/**
 * Per connection, the member's tunnel to the far owner (the best of both without an answering
 * one); towards an AWS managed VPN, the best of its VPN connection's two tunnels.
 */
function memberTunnels(
  fleet: Fleet,
  member: string,
  status: AgentStatus,
  sides: readonly Side[],
  owners: Map<string, string | undefined>,
  agents: Gathered["agents"],
): Record<string, TunnelState> {
  const out: Record<string, TunnelState> = {};
  const best = (states: TunnelState[]): TunnelState =>
    states.includes("up") ? "up" : states.includes("down") ? "down" : "unknown";
  for (const { connection, far } of counterparts(member, sides, owners, agents)) {
    out[connection] = best(far.map((f) => tunnelTo(status, f)));
  }
  for (const c of fleet.connections) {
    if (c.kind !== "aws-vpn" || c.vpnConnections[member] === undefined) continue;
    out[c.name] = best([1, 2].map((n) => tunnelTo(status, awsTunnelName(c.name, n as 1 | 2))));
  }
  return out;
}

/**
 * Per connection, how the far side sees its tunnel to `member`: the far owner's, the one that
 * carries the traffic (a tunnel from the other far member proves nothing about that path);
 * with no answering far owner, up when a far member reports it up, down when every one that
 * reports it says down. Absent when nobody reports it (unreachable agents report nothing).
 */
function farTunnels(
  member: string,
  sides: readonly Side[],
  agents: Gathered["agents"],
  owners: Map<string, string | undefined>,
): Record<string, TunnelState> | undefined {
  const out: Record<string, TunnelState> = {};
  for (const { connection, far } of counterparts(member, sides, owners, agents)) {
    const states = far.flatMap((f) => {
      const status = agents[f];
      const state = status ? tunnelTo(status, member) : "unknown";
      return state === "unknown" ? [] : [state];
    });
    if (states.length > 0) out[connection] = states.includes("up") ? "up" : "down";
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * How long after a charon exit its tunnels are taken as being made again rather than down: the
 * agent restarts charon at once, and the tunnels take an IKE exchange or two. A charon that ran
 * less than the agent's backoff reset (30 s) before it exited is crash-looping: no grace then,
 * and its member fails over as a dead one.
 */
export const CHARON_RESTART_GRACE_MS = 5000;
const CHARON_STEADY_RUN_MS = 30_000;

/** Whether the agent restarted a steadily running charon within the grace. */
export function charonRestarting(status: AgentStatus, now: number): boolean {
  const exit = status.charon.lastExit;
  if (exit === null || exit.ranMs < CHARON_STEADY_RUN_MS) return false;
  const at = Date.parse(exit.at);
  return !Number.isNaN(at) && now - at >= 0 && now - at < CHARON_RESTART_GRACE_MS;
}

/** Path probes are named after the fleet connection they measure; unknown ones carry no evidence. */
function pathProbes(status: AgentStatus): Record<string, boolean> | undefined {
  // An agent older than path probes sends no `paths`.
  const decided = (status.paths ?? []).filter((p) => p.state !== "unknown");
  if (decided.length === 0) return undefined;
  return Object.fromEntries(decided.map((p) => [p.name, p.state === "up"]));
}

export function toObservation(fleet: Fleet, sides: readonly Side[], g: Gathered): Observation {
  const observedSides = g.tables ? sideObservations(sides, g.tables) : [];
  const owners = new Map(
    sides.map((s) => {
      const o = observedSides.find((x) => sideKey(x.connection, x.pair) === s.key);
      return [s.key, o ? currentOwner(s, o) : undefined];
    }),
  );
  // An agent whose charon is restarting reports its tunnels down while they are made again:
  // that is no evidence about the far members, so it witnesses nothing this tick.
  const restarting = new Set(
    Object.entries(g.agents).flatMap(([name, status]) =>
      status && charonRestarting(status, g.now) ? [name] : [],
    ),
  );
  const witnesses = Object.fromEntries(
    Object.entries(g.agents).filter(([name]) => !restarting.has(name)),
  );
  const members: Record<string, MemberObservation> = {};
  for (const a of fleet.appliances) {
    const status = g.agents[a.name];
    const ec2 = g.instances.get(a.instanceId);
    const probes = status ? pathProbes(status) : undefined;
    const witnessed = farTunnels(a.name, sides, witnesses, owners);
    members[a.name] = {
      agentReachable: status !== undefined,
      tunnels: status ? memberTunnels(fleet, a.name, status, sides, owners, witnesses) : {},
      ...(restarting.has(a.name) ? { charonRestarting: true } : {}),
      ...(probes ? { pathProbes: probes } : {}),
      ...(witnessed ? { farTunnels: witnessed } : {}),
      ...(ec2 ? { ec2 } : {}),
    };
  }
  return { now: g.now, members, sides: observedSides };
}
