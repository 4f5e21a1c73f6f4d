import { createHash } from "node:crypto";

/**
 * Route-table tags that record which member holds a connection side's routes, fencing stale
 * writers. One tag per side (docs/decisions/0012-fences-per-side.md), so sides sharing a table
 * (a hub pair, two pairs in one VPC) never overwrite each other's decision, and one CreateTags
 * of one key updates owner, epoch and time together.
 */

/** Every side's fence key starts with this; the IAM policy allows CreateTags on these keys only. */
export const FENCE_KEY_PREFIX = "swanpair:fence:";

/** EC2's limit on a tag key. */
const TAG_KEY_MAX = 128;

/**
 * The side's fence key: readable (`swanpair:fence:CONNECTION/PAIR`) when it fits EC2's
 * 128 characters, else a stable hash of both names.
 */
export function fenceKey(connection: string, pair: string): string {
  const readable = `${FENCE_KEY_PREFIX}${connection}/${pair}`;
  if (readable.length <= TAG_KEY_MAX) return readable;
  const hash = createHash("sha256").update(`${connection}/${pair}`).digest("hex").slice(0, 32);
  return `${FENCE_KEY_PREFIX}sha256=${hash}`;
}

/**
 * The tags of swanpair 0.1, one set per table, shared by every side on it. Still read (a side
 * without its own fence on a table adopts them) and removed once every side of the table has
 * its own.
 */
export const LEGACY_FENCE_TAGS = {
  active: "swanpair:active",
  epoch: "swanpair:epoch",
  at: "swanpair:at",
} as const;

const LEGACY_KEYS: ReadonlySet<string> = new Set(Object.values(LEGACY_FENCE_TAGS));

/** Keys the controller writes or removes: a fleet tag must not be one of them. */
export function isFenceTagKey(key: string): boolean {
  return key.startsWith(FENCE_KEY_PREFIX) || LEGACY_KEYS.has(key);
}

export interface FenceValue {
  /** Appliance name that holds the routes. */
  active: string;
  /** Increases with every move; a writer holding an older epoch must stand down. */
  epoch: number;
  /**
   * The lease epoch the decision was made under (absent without leases, as 0): a newer
   * lease holder's decisions outrank a former holder's, whatever their epochs.
   */
  term?: number;
  /** ISO 8601 time of the decision. */
  at: string;
}

/** `active=a1 epoch=3 [term=2 ]at=2026-12-01T10:00:00.000Z`: characters EC2 allows in a tag value. */
export function formatFence(f: FenceValue): string {
  const term = f.term ? ` term=${f.term}` : "";
  return `active=${f.active} epoch=${f.epoch}${term} at=${f.at}`;
}

const FENCE_VALUE =
  /^active=([A-Za-z][A-Za-z0-9_-]{0,62}) epoch=(\d{1,15})(?: term=(\d{1,15}))? at=(\S+)$/;

/** Undefined for anything but a well-formed value (a hand-edited tag is no fence). */
export function parseFence(value: string | undefined): FenceValue | undefined {
  const m = value === undefined ? null : FENCE_VALUE.exec(value);
  if (!m) return undefined;
  const [, active, epoch, term, at] = m as unknown as [
    string,
    string,
    string,
    string | undefined,
    string,
  ];
  if (Number.isNaN(Date.parse(at))) return undefined;
  return { active, epoch: Number(epoch), ...(term ? { term: Number(term) } : {}), at };
}
