/**
 * Where a side's routes should point, given the member they belong to now and the members'
 * health. Nothing here looks at epochs or drift; side.ts turns the plan into writes.
 */

import type { Side } from "./sides.ts";
import type { AlarmReason, Blocker, MemberStatus, MoveReason } from "./types.ts";

export type Plan =
  | { kind: "stay" }
  | { kind: "move"; to: string; reason: MoveReason }
  | {
      kind: "blocked";
      reason: Exclude<AlarmReason, "no-healthy-member">;
      blocked: Record<string, Blocker>;
    };

export interface PlanInput {
  side: Side;
  /** The member the side's routes belong to now (fence tag, else routes), if any. */
  current: string | undefined;
  status(member: string): MemberStatus;
  /** Why `member` cannot take the routes for this purpose now; undefined when it can. */
  blocker(member: string, purpose: "failover" | "preempt"): Blocker | undefined;
  preempt: boolean;
  self?: string;
}

const STAY: Plan = { kind: "stay" };

export function plan(p: PlanInput): Plan {
  const { current, side } = p;
  if (current !== undefined && p.status(current) !== "dead") {
    // Co-located controllers never preempt: that would be a claim against a live member.
    const preempt = p.preempt && p.self === undefined && current !== side.preferred;
    if (preempt && p.blocker(side.preferred, "preempt") === undefined) {
      return { kind: "move", to: side.preferred, reason: "preempt" };
    }
    return STAY;
  }
  const reason = current === undefined ? "no-active" : "active-dead";
  let candidates: string[];
  if (p.self === undefined) {
    const others = side.members.filter((m) => m !== current);
    candidates = [
      ...others.filter((m) => m === side.preferred),
      ...others.filter((m) => m !== side.preferred),
    ];
  } else if (selfMayClaim(p, p.self)) {
    candidates = [p.self];
  } else {
    return STAY;
  }
  const blocked: Record<string, Blocker> = {};
  for (const c of candidates) {
    const b = p.blocker(c, "failover");
    if (b === undefined) return { kind: "move", to: c, reason };
    blocked[c] = b;
  }
  return { kind: "blocked", reason, blocked };
}

/**
 * Co-located mode, with the routes' owner dead or absent. Both controllers compute the same
 * member health from the same observations, so at most one of them passes: the dead owner's
 * controller never claims; with no owner, the preferred member claims when it can, the other
 * only when the preferred member is not healthy.
 */
function selfMayClaim(p: PlanInput, self: string): boolean {
  if (p.current !== undefined) return p.current !== self;
  return self === p.side.preferred || p.status(p.side.preferred) !== "healthy";
}
