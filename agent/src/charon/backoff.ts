export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  /** A run at least this long resets the crash streak. */
  resetAfterMs: number;
}

/** Delay before restart number `streak` (1-based) of a crash streak: 0, initial, 2×initial, … max. */
export function nextRestartDelay(streak: number, policy: BackoffPolicy): number {
  if (streak <= 1) return 0;
  return Math.min(policy.maxMs, policy.initialMs * 2 ** (streak - 2));
}
