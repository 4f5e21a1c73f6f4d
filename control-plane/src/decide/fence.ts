/**
 * Fencing tags order decisions. A later lease term wins, then a higher epoch; two writers that
 * picked the same term and epoch are ordered by member name so every controller agrees on the
 * winner.
 */

import type { FenceTag } from "./types.ts";

export function compareFence(a: FenceTag, b: FenceTag): number {
  const terms = (a.term ?? 0) - (b.term ?? 0);
  if (terms !== 0) return terms;
  if (a.epoch !== b.epoch) return a.epoch - b.epoch;
  return a.active < b.active ? -1 : a.active > b.active ? 1 : 0;
}

/**
 * The same decision, whatever lease term it was written under: the controller stamps the term
 * when it writes, so its own decision comes back from EC2 with one.
 */
export function sameDecision(a: FenceTag, b: FenceTag): boolean {
  return a.active === b.active && a.epoch === b.epoch && a.at === b.at;
}

/** The newest tag naming one of `members`; tags naming anything else cannot be adopted. */
export function newestFence(fences: FenceTag[], members: readonly string[]): FenceTag | undefined {
  let newest: FenceTag | undefined;
  for (const f of fences) {
    if (!members.includes(f.active)) continue;
    if (newest === undefined || compareFence(f, newest) > 0) newest = f;
  }
  return newest;
}
