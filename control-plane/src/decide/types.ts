/**
 * The decision engine's contract: what it observes, what it remembers between ticks, and
 * what it asks for. Everything is plain data (JSON-safe) so the controller can log it, keep
 * it in memory, or throw it away: the engine converges again from observations alone.
 */

import type { RiseFallState } from "../../../common/rise-fall.ts";
import type { ManagedRoute } from "../fleet/types.ts";

export type TunnelState = "up" | "down" | "unknown";
export type Ec2State = "running" | "stopped" | "impaired" | "unknown";

/** One appliance as seen this tick. A member missing from the observation counts as unreachable. */
export interface MemberObservation {
  agentReachable: boolean;
  /** Per connection name: this member's tunnel to the far pair's active member, as its agent reports it. */
  tunnels: Record<string, TunnelState>;
  /**
   * Per connection name: this member's own probe to the far VPC through its VPC's routes, so
   * through the member those routes point at. Evidence about that member only; absent when
   * not measured.
   */
  pathProbes?: Record<string, boolean>;
  /**
   * Per connection name: the far pair's agents' view of their tunnels to this member, a
   * witness that shares no link with this member's partner. `up` when a reachable far member
   * reports it up, `down` when every one that reports it says down; absent when none does.
   */
  farTunnels?: Record<string, TunnelState>;
  /** Instance state and status checks; absent means unknown. */
  ec2?: Ec2State;
  /**
   * Its agent restarted a charon that had run steadily, a moment ago: its tunnels are being
   * made again, so a tunnel down is that, not the member's death (observation.ts).
   */
  charonRestarting?: boolean;
}

/**
 * The fencing tag on a side's route tables, written with every decision. `at` is when the
 * decision was made (ms since the epoch); the side hold-down counts from it.
 */
export interface FenceTag {
  active: string;
  epoch: number;
  /** Lease epoch the decision was made under; absent (0) without leases. Ranks before epoch. */
  term?: number;
  at: number;
}

/** A managed route as EC2 shows it; `eni` is null when the route is missing or points elsewhere than an ENI. */
export interface ObservedRoute {
  routeTable: string;
  destination: string;
  eni: string | null;
}

/** One side of a connection: the routes in `pair`'s VPC that lead to the far VPC. */
export interface SideObservation {
  connection: string;
  pair: string;
  routes: ObservedRoute[];
  /** The side's fence tag on each of its route tables that carries one (they differ after a partial write). */
  fences: FenceTag[];
  /**
   * Some of those came from swanpair 0.1's shared tags, not the side's own: the decision is
   * written again under the side's own key (same epoch, no route change).
   */
  legacyFences?: boolean;
}

export interface Observation {
  /** When the observation was taken, ms since the epoch. The engine has no other clock. */
  now: number;
  /** Keyed by appliance name. */
  members: Record<string, MemberObservation>;
  /** A side missing here is left alone this tick (EC2 could not be read). */
  sides: SideObservation[];
}

export interface EngineOptions {
  /**
   * Co-located mode: the controller runs on this appliance. It then decides only the sides of
   * its own pair and writes routes only towards itself.
   */
  self?: string;
  /**
   * With leases: per side key, whether this controller holds the side's lease (absent: yes).
   * A side it does not hold is only watched: health is tracked and the fence followed, but
   * nothing is decided or written.
   */
  holds?: (side: string) => boolean;
}

/** Why a member cannot be trusted this tick; `member-health-changed` reports them. */
export type Signal =
  | "agent-unreachable"
  | "tunnel-down"
  | "tunnel-unknown"
  | "charon-restarting"
  | "path-probe-failed"
  | "far-tunnels-down"
  | "ec2-stopped"
  | "ec2-impaired";

/**
 * A member's health on one side:
 * - `healthy`: fit to carry the routes (agent reachable, tunnel up, EC2 not stopped or impaired) for `rise` ticks;
 * - `unready`: not fit for `fall` ticks, but not confirmed dead (keeps routes it already has);
 * - `dead`: two independent signals for `fall` ticks (see member-health.ts);
 * - `unknown`: neither threshold reached yet.
 */
export type MemberStatus = "unknown" | "healthy" | "unready" | "dead";

export interface MemberHealth {
  /** Rise/fall over "fit to carry the routes". */
  ready: RiseFallState;
  /** Rise/fall over "not confirmed dead by two signals". */
  alive: RiseFallState;
  /** When the current healthy stretch began. */
  healthySince?: number;
  /** The healthy stretch began with a recovery from unready or dead (so the hold-down applies). */
  recovered?: boolean;
}

export interface SideState {
  /**
   * The decision this engine holds: the newest fence it has seen, or its own newer one whose
   * tag has not been observed yet.
   */
  decision?: FenceTag;
  /** Highest epoch written or seen; a new decision takes the next one. */
  epoch: number;
  /** When the routes last moved (own decision or adopted fence); the side hold-down counts from it. */
  movedAt?: number;
  /**
   * Epoch of the decision this engine wrote at movedAt: finishing that same write may go on
   * within the hold-down. Undefined when movedAt came from another controller's fence.
   */
  movedEpoch?: number;
  /** Keyed by member name. */
  members: Record<string, MemberHealth>;
  alarm?: { since: number; reason: AlarmReason };
}

export interface EngineState {
  /** Keyed by sideKey(connection, pair). */
  sides: Record<string, SideState>;
}

/**
 * Point the listed routes at `eni` (appliance `target`). The adapter first writes the fence
 * tag `{ active: target, epoch, at: decidedAt }` to every table in `routeTables`, then the
 * routes, so a partial write still carries the fence that other controllers honour.
 * `routes` holds only the routes that drift and may be empty when only the tag is missing.
 */
export interface WriteRoutes {
  kind: "write-routes";
  connection: string;
  pair: string;
  target: string;
  eni: string;
  epoch: number;
  /** Stamped by the controller when it writes under a lease: that lease's epoch. */
  term?: number;
  decidedAt: number;
  routeTables: string[];
  routes: ManagedRoute[];
}

export type Action = WriteRoutes;

export type MoveReason = "active-dead" | "no-active" | "preempt";
export type AlarmReason = "active-dead" | "no-active" | "no-healthy-member";
/** Why a member cannot take the routes now. */
export type Blocker = Exclude<MemberStatus, "healthy"> | "held-down" | "side-hold-down";

interface SideEvent {
  connection: string;
  pair: string;
  at: number;
}

export type EngineEvent =
  | (SideEvent & {
      kind: "member-health-changed";
      member: string;
      from: MemberStatus;
      to: MemberStatus;
      signals: Signal[];
    })
  /** First tick for a side: what the engine took over (`source` none: no fence and no consistent routes). */
  | (SideEvent & {
      kind: "adopted";
      active?: string;
      epoch: number;
      source: "fence" | "routes" | "none";
    })
  /** Someone else wrote a newer decision: no action this tick, the engine re-synced to it. */
  | (SideEvent & { kind: "stand-down"; seen: FenceTag; held?: FenceTag })
  | (SideEvent & { kind: "failover"; from?: string; to: string; reason: MoveReason; epoch: number })
  /** A write towards the unchanged target; `routes` 0 means only the fence tag was missing. */
  | (SideEvent & { kind: "drift-healed"; target: string; epoch: number; routes: number })
  | (SideEvent & {
      kind: "alarm-no-healthy-target";
      reason: AlarmReason;
      active?: string;
      members: Record<string, MemberStatus>;
      /** Candidates and what keeps each from taking the routes. */
      blocked: Record<string, Blocker>;
    })
  | (SideEvent & { kind: "alarm-cleared"; since: number });

export interface DecideResult {
  state: EngineState;
  actions: Action[];
  events: EngineEvent[];
}
