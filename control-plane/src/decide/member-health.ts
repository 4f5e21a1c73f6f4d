/**
 * A member's health on one side, from per-tick signals through rise/fall hysteresis.
 *
 * Two trackers, because "can take the routes" and "must lose the routes" are different
 * questions: a standby needs every signal clean to become a target, while the member the
 * routes point at loses them only when two independent signals agree it is gone (one from
 * the member itself, one from outside it), so a controller that merely cannot reach an
 * agent never causes a split brain.
 */

import { initialRiseFall, next, type RiseFallThresholds } from "../../../common/rise-fall.ts";
import type { Blocker, MemberHealth, MemberObservation, MemberStatus, Signal } from "./types.ts";

const UNOBSERVED: MemberObservation = { agentReachable: false, tunnels: {} };

export interface Assessment {
  signals: Signal[];
  /** No signal at all: fit to carry the routes. */
  fit: boolean;
  /** The member's own view (agent gone or tunnel down) and an outside view (path probe or EC2) agree. */
  confirmedDead: boolean;
}

/**
 * `isRouteTarget`: the side's routes point at this member, so `peerProbe` (the other
 * member's probe through the routes) is evidence about it. `colocated`: the controller runs on
 * the other member, so its view of this member's agent and the peer's probe ride the same link
 * between the two; only EC2 and the far pair's agents witness from outside then.
 */
export function assess(
  obs: MemberObservation | undefined,
  connection: string,
  isRouteTarget: boolean,
  peerProbe: boolean | undefined,
  colocated = false,
): Assessment {
  const o = obs ?? UNOBSERVED;
  const signals: Signal[] = [];
  if (!o.agentReachable) signals.push("agent-unreachable");
  else {
    // An unreachable agent's tunnel report is stale, so it only counts when reachable.
    const tunnel = o.tunnels[connection] ?? "unknown";
    // A charon that crashed once and is back is the agent's to mend: not fit, not dead.
    if (tunnel !== "up" && o.charonRestarting) signals.push("charon-restarting");
    else if (tunnel !== "up") signals.push(tunnel === "down" ? "tunnel-down" : "tunnel-unknown");
  }
  if (isRouteTarget && peerProbe === false) signals.push("path-probe-failed");
  if (o.farTunnels?.[connection] === "down") signals.push("far-tunnels-down");
  if (o.ec2 === "stopped") signals.push("ec2-stopped");
  if (o.ec2 === "impaired") signals.push("ec2-impaired");
  const own = signals.includes("agent-unreachable") || signals.includes("tunnel-down");
  const outside =
    (!colocated && signals.includes("path-probe-failed")) ||
    signals.includes("far-tunnels-down") ||
    signals.includes("ec2-stopped") ||
    signals.includes("ec2-impaired");
  return { signals, fit: signals.length === 0, confirmedDead: own && outside };
}

export function statusOf(h: MemberHealth): MemberStatus {
  if (h.alive.health === "down") return "dead";
  if (h.ready.health === "up") return "healthy";
  return h.ready.health === "down" ? "unready" : "unknown";
}

export function updateHealth(
  prev: MemberHealth | undefined,
  a: Assessment,
  t: RiseFallThresholds,
  now: number,
): MemberHealth {
  const from = prev === undefined ? "unknown" : statusOf(prev);
  const ready = next(prev?.ready ?? initialRiseFall, a.fit, t);
  const alive = next(prev?.alive ?? initialRiseFall, !a.confirmedDead, t);
  const h: MemberHealth = { ready, alive };
  if (statusOf(h) !== "healthy") return h;
  if (prev !== undefined && from === "healthy") return { ...prev, ready, alive };
  return { ...h, healthySince: now, recovered: from === "unready" || from === "dead" };
}

/**
 * What keeps a member from taking the routes, apart from the side's own hold-down. A member
 * that recovered waits out the hold-down; preemption (the only move made while the current
 * member is fine) always waits for a full hold-down of health this engine has witnessed, so
 * a restarted controller does not preempt early.
 */
export function memberBlocker(
  h: MemberHealth,
  purpose: "failover" | "preempt",
  now: number,
  holdDownMs: number,
): Blocker | undefined {
  const status = statusOf(h);
  if (status !== "healthy") return status;
  const held = purpose === "preempt" || h.recovered === true;
  if (held && now < (h.healthySince ?? now) + holdDownMs) return "held-down";
  return undefined;
}
