/**
 * Fencing tags order decisions. Higher epoch wins; two writers that picked the same epoch
 * are ordered by member name so every controller agrees on the winner.
 */

import type { FenceTag } from "./types.ts";

export function compareFence(a: FenceTag, b: FenceTag): number {
  if (a.epoch !== b.epoch) return a.epoch - b.epoch;
  return a.active < b.active ? -1 : a.active > b.active ? 1 : 0;
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
