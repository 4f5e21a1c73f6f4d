/**
 * What `swanpair status`, `swanpair plan` and the controller's status endpoint show: per
 * connection side, who holds the routes, each member's health and why, the routes that drift
 * from the decision, the last failover and any alarm. Pure: built from an observation and an
 * engine state.
 */

import { newestFence } from "../decide/fence.ts";
import { assess, statusOf } from "../decide/member-health.ts";
import type { Side } from "../decide/sides.ts";
import type {
  EngineState,
  FenceTag,
  MemberStatus,
  Observation,
  Signal,
  TunnelState,
  WriteRoutes,
} from "../decide/types.ts";
import { currentOwner } from "./observation.ts";

export interface MemberView {
  name: string;
  status: MemberStatus;
  /** What is wrong with it this tick; empty when nothing is. */
  signals: Signal[];
  agent: "reachable" | "unreachable";
  tunnel: TunnelState;
  /** Its probe to the far VPC through the routes, when its agent measures one. */
  pathProbe: "up" | "down" | "unmeasured";
  ec2: string;
}

export interface DriftView {
  routeTable: string;
  destination: string;
  /** Where it points now: an ENI id, or "missing". */
  now: string;
}

export interface FailoverView {
  to: string;
  from?: string;
  reason?: string;
  epoch: number;
  at: string;
}

export interface SideView {
  connection: string;
  pair: string;
  preferred: string;
  /** The member the routes belong to (fence, else routes); null when none can be told. */
  active: string | null;
  fence: { active: string; epoch: number; at: string } | null;
  routes: number;
  /** Managed routes that do not point at `active`'s ENI (all of them when active is null). */
  drift: DriftView[];
  members: MemberView[];
  lastFailover: FailoverView | null;
  alarm: { since: string; reason: string } | null;
}

export interface PlannedWrite {
  connection: string;
  pair: string;
  target: string;
  epoch: number;
  routes: Array<{ routeTable: string; destination: string }>;
  routeTables: string[];
}

const iso = (ms: number) => new Date(ms).toISOString();

/** What this process saw, unless a newer decision (another writer's) is on the tables. */
function newer(seen: FailoverView | undefined, fence: FailoverView | null): FailoverView | null {
  if (seen === undefined) return fence;
  return fence !== null && fence.epoch > seen.epoch ? fence : seen;
}

function fenceView(f: FenceTag | undefined): SideView["fence"] {
  return f ? { active: f.active, epoch: f.epoch, at: iso(f.at) } : null;
}

export function plannedWrite(a: WriteRoutes): PlannedWrite {
  return {
    connection: a.connection,
    pair: a.pair,
    target: a.target,
    epoch: a.epoch,
    routes: a.routes.map((r) => ({ routeTable: r.routeTable, destination: r.destination })),
    routeTables: a.routeTables,
  };
}

/**
 * `failovers`: the last failover this process saw per side key, if any; otherwise the fence
 * (which records the last decision's target, epoch and time) stands in for it.
 */
export function sideViews(
  sides: readonly Side[],
  observation: Observation,
  state: EngineState,
  failovers: ReadonlyMap<string, FailoverView> = new Map(),
): SideView[] {
  return sides.flatMap((side) => {
    const observed = observation.sides.find(
      (o) => o.connection === side.connection && o.pair === side.pair,
    );
    if (observed === undefined) return [];
    const active = currentOwner(side, observed) ?? null;
    const fence = newestFence(observed.fences, side.members);
    const activeEni = active ? side.enis[active] : undefined;
    const drift = observed.routes
      .filter((r) => r.eni === null || r.eni !== activeEni)
      .map((r) => ({
        routeTable: r.routeTable,
        destination: r.destination,
        now: r.eni ?? "missing",
      }));
    const sideState = state.sides[side.key];
    const members = side.members.map((name): MemberView => {
      const o = observation.members[name];
      const peer = side.members.find((m) => m !== name) as string;
      const probe = o?.pathProbes?.[side.connection];
      const a = assess(
        o,
        side.connection,
        name === active,
        observation.members[peer]?.pathProbes?.[side.connection],
      );
      const health = sideState?.members[name];
      return {
        name,
        status: health ? statusOf(health) : "unknown",
        signals: a.signals,
        agent: o?.agentReachable ? "reachable" : "unreachable",
        tunnel: o?.agentReachable ? (o.tunnels[side.connection] ?? "unknown") : "unknown",
        pathProbe: probe === undefined ? "unmeasured" : probe ? "up" : "down",
        ec2: o?.ec2 ?? "unknown",
      };
    });
    const fromFence = fence ? { to: fence.active, epoch: fence.epoch, at: iso(fence.at) } : null;
    const alarm = sideState?.alarm;
    return [
      {
        connection: side.connection,
        pair: side.pair,
        preferred: side.preferred,
        active,
        fence: fenceView(fence),
        routes: observed.routes.length,
        drift,
        members,
        lastFailover: newer(failovers.get(side.key), fromFence),
        alarm: alarm ? { since: iso(alarm.since), reason: alarm.reason } : null,
      },
    ];
  });
}
