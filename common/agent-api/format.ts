/**
 * How the numbers of an agent's status read in a table, kubectl's way: the agent's own
 * `status` and the control plane's fleet-wide `tunnels` show them alike.
 */

/** A probe's mean round-trip time; "-" when nothing came back. */
export function formatRtt(ms: number | null): string {
  if (ms === null) return "-";
  return ms < 10 ? `${ms.toFixed(1)}ms` : `${Math.round(ms)}ms`;
}

/** A probe's loss fraction as a whole percentage. */
export function formatLoss(loss: number): string {
  return `${Math.round(loss * 100)}%`;
}

/** kubectl-style age: the two largest units, e.g. 45s, 12m, 3h5m, 2d4h. */
export function formatAge(since: string, now: Date): string {
  const ms = now.getTime() - Date.parse(since);
  if (Number.isNaN(ms)) return "-";
  // A since slightly in the future is clock skew between the agent and this process.
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${m % 60}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}
