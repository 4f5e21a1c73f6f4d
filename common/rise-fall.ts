/**
 * Hysteresis for health signals: a run of `fall` failures takes the state down, a run of
 * `rise` successes takes it up, and anything shorter leaves it where it is. Shared by the
 * agent's prober and the failover controller, so it stays pure and immutable.
 */

export type Health = "unknown" | "up" | "down";

export interface RiseFallState {
  readonly health: Health;
  /** Consecutive successes ending with the latest result. */
  readonly successes: number;
  /** Consecutive failures ending with the latest result. */
  readonly failures: number;
}

/** Both thresholds are counts of consecutive results, at least 1. */
export interface RiseFallThresholds {
  readonly rise: number;
  readonly fall: number;
}

export const initialRiseFall: RiseFallState = Object.freeze({
  health: "unknown",
  successes: 0,
  failures: 0,
});

export function next(state: RiseFallState, ok: boolean, t: RiseFallThresholds): RiseFallState {
  const successes = ok ? state.successes + 1 : 0;
  const failures = ok ? 0 : state.failures + 1;
  let health = state.health;
  // From unknown either threshold may decide; only one counter is non-zero at a time.
  if (ok && health !== "up" && successes >= t.rise) health = "up";
  if (!ok && health !== "down" && failures >= t.fall) health = "down";
  return Object.freeze({ health, successes, failures });
}
