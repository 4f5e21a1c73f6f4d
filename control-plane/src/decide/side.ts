/**
 * One tick for one connection side: update member health, honour the fence, plan, and turn
 * the plan into at most one write. Level-triggered: the plan starts from what EC2 shows
 * (fence tag, else routes), so a lost write or a restart only costs a tick.
 */

import type { FailoverPolicy, ManagedRoute } from "../fleet/types.ts";
import { compareFence, newestFence, sameDecision } from "./fence.ts";
import { assess, memberBlocker, statusOf, updateHealth } from "./member-health.ts";
import { type Plan, plan } from "./plan.ts";
import { drifted, observedEnis, routesTarget, type Side } from "./sides.ts";
import type {
  Action,
  AlarmReason,
  EngineEvent,
  FenceTag,
  MemberHealth,
  MemberObservation,
  MemberStatus,
  SideObservation,
  SideState,
} from "./types.ts";

export interface SideInput {
  side: Side;
  prev: SideState | undefined;
  observed: SideObservation;
  members: Record<string, MemberObservation>;
  policy: FailoverPolicy;
  now: number;
  self?: string;
  /** Another controller holds the side's lease: track health and follow the fence, no more. */
  watchOnly?: boolean;
}

export interface SideResult {
  state: SideState;
  actions: Action[];
  events: EngineEvent[];
}

/** An event without the fields every event of a side shares. */
type EventBody = EngineEvent extends infer E
  ? E extends unknown
    ? Omit<E, "connection" | "pair" | "at">
    : never
  : never;

export function decideSide(input: SideInput): SideResult {
  const { side, prev, observed, policy, now } = input;
  const events: EngineEvent[] = [];
  const emit = (e: EventBody): void => {
    events.push({ connection: side.connection, pair: side.pair, at: now, ...e } as EngineEvent);
  };

  const fence = newestFence(observed.fences, side.members);
  const enis = observedEnis(side, observed.routes);
  const routed = routesTarget(side, enis);

  // Fencing: a fence newer than the decision we hold was written by someone else. Take it
  // and write nothing this tick; the next tick decides from it.
  const standDown =
    !input.watchOnly &&
    prev !== undefined &&
    fence !== undefined &&
    (prev.decision === undefined ||
      (compareFence(fence, prev.decision) > 0 && !sameDecision(fence, prev.decision)));
  const held = prev === undefined || standDown || input.watchOnly ? adopt(prev, fence) : prev;
  if (standDown) emit({ kind: "stand-down", seen: fence, held: prev.decision });
  if (prev === undefined) {
    const source = fence ? "fence" : routed ? "routes" : "none";
    emit({ kind: "adopted", active: fence?.active ?? routed, epoch: held.epoch, source });
  }

  const members = updateMembers(input, routed, emit);
  const status = (m: string): MemberStatus => statusOf(members[m] as MemberHealth);
  // Our own decision whose tag EC2 does not show yet: retried as is if we still want it.
  const pending =
    held.decision && (fence === undefined || compareFence(held.decision, fence) > 0)
      ? held.decision
      : undefined;
  const current = fence?.active ?? routed;
  const sideHeld = held.movedAt !== undefined && now < held.movedAt + policy.holdDownMs;
  // Only the write that started the hold-down may finish within it (a partial landing).
  const finishing = (m: string) => pending?.active === m && pending.epoch === held.movedEpoch;
  const p = plan({
    side,
    current,
    status,
    blocker: (m, purpose) =>
      memberBlocker(members[m] as MemberHealth, purpose, now, policy.holdDownMs) ??
      (sideHeld && !finishing(m) ? "side-hold-down" : undefined),
    preempt: policy.preempt,
    self: input.self,
  });

  // Without a move, keep our pending decision only if it agrees with the current owner.
  const kept = pending !== undefined && pending.active === current ? pending : fence;
  const acted =
    standDown || input.watchOnly
      ? { decision: kept, movedAt: held.movedAt, movedEpoch: held.movedEpoch, actions: [] }
      : act({
          side,
          enis,
          p,
          held,
          pending,
          kept,
          current,
          now,
          self: input.self,
          legacy: observed.legacyFences === true,
          status,
          emit,
        });
  const alarm = raiseAlarm(prev?.alarm, p, members, current, now, emit);
  return {
    state: {
      decision: acted.decision,
      epoch: Math.max(held.epoch, acted.decision?.epoch ?? 0),
      movedAt: acted.movedAt,
      movedEpoch: acted.movedEpoch,
      members,
      alarm,
    },
    actions: acted.actions,
    events,
  };
}

interface ActInput {
  side: Side;
  enis: Map<string, string | null>;
  p: Plan;
  held: Pick<SideState, "decision" | "epoch" | "movedAt" | "movedEpoch">;
  pending: FenceTag | undefined;
  /** The decision to hold when nothing moves. */
  kept: FenceTag | undefined;
  current: string | undefined;
  now: number;
  self: string | undefined;
  /** The side's fence is still (partly) in swanpair 0.1's shared tags. */
  legacy: boolean;
  status(member: string): MemberStatus;
  emit(e: EventBody): void;
}

/** Turns the plan into at most one write: a move (new or retried decision) or a heal. */
function act(x: ActInput): Pick<SideState, "decision" | "movedAt" | "movedEpoch"> & {
  actions: Action[];
} {
  const { side, enis, p, pending, current, now } = x;
  // held.epoch is at least every epoch seen (fenced above), so it is the max to go beyond.
  const newFence = (active: string): FenceTag => ({ active, epoch: x.held.epoch + 1, at: now });
  const write = (decision: FenceTag, routes: ManagedRoute[]): Action => ({
    kind: "write-routes",
    connection: side.connection,
    pair: side.pair,
    target: decision.active,
    eni: side.enis[decision.active] as string,
    epoch: decision.epoch,
    ...(decision.term ? { term: decision.term } : {}),
    decidedAt: decision.at,
    routeTables: side.routeTables,
    routes,
  });

  if (p.kind === "move") {
    const routes = drifted(side, enis, p.to);
    if (pending !== undefined && pending.active === p.to) {
      return { ...kept(x, pending), actions: [write(pending, routes)] };
    }
    const decision = newFence(p.to);
    x.emit({ kind: "failover", from: current, to: p.to, reason: p.reason, epoch: decision.epoch });
    return {
      decision,
      movedAt: now,
      movedEpoch: decision.epoch,
      actions: [write(decision, routes)],
    };
  }
  const unchanged = { ...kept(x, x.kept), actions: [] };
  if (current === undefined || !mayHeal(x.self, current, x.status(current))) return unchanged;
  const routes = drifted(side, enis, current);
  // Heal drifted routes, the tag of our own decision that has not landed, or a decision still
  // only in the shared tags of swanpair 0.1. A side that never had a fence gets one only with
  // a route write.
  const unlanded =
    (pending !== undefined && x.kept === pending) || (x.legacy && x.kept !== undefined);
  if (routes.length === 0 && !unlanded) return unchanged;
  const decision = x.kept ?? newFence(current);
  x.emit({ kind: "drift-healed", target: current, epoch: decision.epoch, routes: routes.length });
  return { ...kept(x, decision), actions: [write(decision, routes)] };
}

/** A decision to hold with the side's hold-down left as it was. */
function kept(x: ActInput, decision: FenceTag | undefined) {
  return { decision, movedAt: x.held.movedAt, movedEpoch: x.held.movedEpoch };
}

function updateMembers(
  input: SideInput,
  routed: string | undefined,
  emit: (e: EventBody) => void,
): Record<string, MemberHealth> {
  const { side, prev, members: observed, policy, now } = input;
  const out: Record<string, MemberHealth> = {};
  for (const m of side.members) {
    // The other member's probe crosses the routes, so it speaks about the routes' target.
    const peer = side.members.find((o) => o !== m) as string;
    const a = assess(
      observed[m],
      side.connection,
      m === routed,
      observed[peer]?.pathProbes?.[side.connection],
      input.self !== undefined,
    );
    const before = prev?.members[m];
    const h = updateHealth(before, a, policy, now);
    const from = before === undefined ? "unknown" : statusOf(before);
    const to = statusOf(h);
    if (from !== to)
      emit({ kind: "member-health-changed", member: m, from, to, signals: a.signals });
    out[m] = h;
  }
  return out;
}

/** What a fresh or fenced-out engine takes over from the fence it observes. */
function adopt(
  prev: SideState | undefined,
  fence: FenceTag | undefined,
): Pick<SideState, "decision" | "epoch" | "movedAt" | "movedEpoch"> {
  if (fence === undefined) {
    return { epoch: prev?.epoch ?? 0, movedAt: prev?.movedAt, movedEpoch: prev?.movedEpoch };
  }
  return {
    decision: fence,
    epoch: Math.max(prev?.epoch ?? 0, fence.epoch),
    movedAt: Math.max(prev?.movedAt ?? fence.at, fence.at),
  };
}

/** Writes go only towards a healthy member, and a co-located controller writes only for itself. */
function mayHeal(self: string | undefined, current: string, status: MemberStatus): boolean {
  return status === "healthy" && (self === undefined || self === current);
}

/**
 * An alarm is open while the plan needs a target it cannot have, or while no member is fit
 * at all. Events mark it opening (or changing reason) and clearing, not every tick.
 */
function raiseAlarm(
  prev: SideState["alarm"],
  p: Plan,
  members: Record<string, MemberHealth>,
  current: string | undefined,
  now: number,
  emit: (e: EventBody) => void,
): SideState["alarm"] {
  const statuses = Object.fromEntries(Object.entries(members).map(([m, h]) => [m, statusOf(h)]));
  const unfit = Object.values(statuses).every((s) => s === "unready" || s === "dead");
  const reason: AlarmReason | undefined =
    p.kind === "blocked" ? p.reason : unfit ? "no-healthy-member" : undefined;
  if (reason === undefined) {
    if (prev !== undefined) emit({ kind: "alarm-cleared", since: prev.since });
    return undefined;
  }
  if (prev?.reason !== reason) {
    emit({
      kind: "alarm-no-healthy-target",
      reason,
      active: current,
      members: statuses,
      blocked: p.kind === "blocked" ? p.blocked : {},
    });
  }
  return { since: prev?.since ?? now, reason };
}
