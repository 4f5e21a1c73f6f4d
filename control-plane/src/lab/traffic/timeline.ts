/**
 * The demo's timeline: the failover's moments relative to the fault, for people (a table) and
 * for --json (the same numbers). Pure.
 */

export interface TimelineEvent {
  name: string;
  /** Wall-clock ms. */
  atMs: number;
  detail?: string;
}

export interface TimelineJson {
  originMs: number;
  /** In time order, as the table lists them. */
  events: Array<{ name: string; atMs: number; offsetMs: number; detail?: string }>;
}

/** Whole ms from the origin: what both the table and the JSON show. */
export function timelineJson(events: TimelineEvent[], originMs: number): TimelineJson {
  // sort() is stable: moments at the same ms keep the order they were given in.
  return {
    originMs,
    events: [...events]
      .sort((a, b) => a.atMs - b.atMs)
      .map((e) => ({
        name: e.name,
        atMs: e.atMs,
        offsetMs: Math.round(e.atMs - originMs),
        ...(e.detail !== undefined && { detail: e.detail }),
      })),
  };
}

/** "+1.203 s  detection: a1 missed 3 probes", one line per moment, the times aligned. */
export function formatTimeline(events: TimelineEvent[], originMs: number): string {
  const rows = timelineJson(events, originMs).events.map((e) => {
    const sign = e.offsetMs < 0 ? "-" : "+";
    const offset = `${sign}${(Math.abs(e.offsetMs) / 1000).toFixed(3)} s`;
    return { offset, what: e.detail === undefined ? e.name : `${e.name}: ${e.detail}` };
  });
  const width = Math.max(0, ...rows.map((r) => r.offset.length));
  return rows.map((r) => `${r.offset.padStart(width)}  ${r.what}`).join("\n");
}
