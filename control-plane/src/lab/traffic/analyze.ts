/**
 * One direction of a traffic stream, judged from the sender's record of its sends and the
 * receiver's record of what arrived. Pure: the lab's demo, its failure matrix and the tests
 * all read the same numbers from here. Times are wall-clock ms; gaps come in multiples of the
 * send period because they are measured between send times of consecutive packets.
 */

export interface Send {
  seq: number;
  sentMs: number;
  /** The errno code when send() failed (no route, a firewall): the packet never left. */
  error?: string;
}

export interface Arrival {
  seq: number;
  /** The sender's clock, from the packet. */
  sentMs: number;
  /** The receiver's clock. */
  recvMs: number;
}

export interface Flow {
  ratePps: number;
  /** When the sender's schedule started: its first deadline. */
  startMs: number;
  /** In send order. */
  sends: Send[];
  /** In arrival order. */
  arrivals: Arrival[];
  /** The receiver recorded from here: what was sent before and never arrived met no listener. */
  receiverStartMs?: number;
  /** The receiver recorded until here; without it, until the last send. */
  receiverEndMs?: number;
}

export interface AnalyzeOptions {
  /**
   * Packets sent in the last two periods plus this before the record ends may still be in
   * flight: unjudged, neither received nor lost. Default 100 ms.
   */
  graceMs?: number;
}

/** Unjudged: sent before the receiver started, or so near the end that it may be in flight. */
export type Fate = "arrived" | "lost" | "unjudged";

export interface SendFate extends Send {
  fate: Fate;
  /** When its first copy arrived. */
  recvMs: number | null;
}

/** A run of consecutive sends that never arrived. */
export interface Outage {
  firstSeq: number;
  lastSeq: number;
  lost: number;
  /** The send time of the first lost packet. */
  startMs: number;
  /** The send time of the first later packet that arrived; null while still out at the end. */
  endMs: number | null;
  /** endMs - startMs: a whole number of periods, give or take the sender's timer jitter. */
  durationMs: number | null;
}

export interface FlowAnalysis {
  /** Send attempts, failed ones included. */
  sent: number;
  /** Sends that failed locally; they count as lost too. */
  sendErrors: number;
  /** Distinct packets that arrived. */
  received: number;
  lost: number;
  /** Sends that did not arrive but cannot count as lost (see Fate). */
  unjudged: number;
  /** Extra copies of packets that had arrived already. */
  duplicates: number;
  /** Arrivals behind a higher sequence number that had arrived before them. */
  reordered: number;
  /** Arrivals of sequence numbers the sender's record does not hold. */
  unmatched: number;
  /** Sends the rate asks for from startMs to the last send. */
  expected: number;
  /** At least RATE_TOLERANCE of the expected sends happened. */
  rateMet: boolean;
  /** The longest pause of the sender itself, from startMs on: a stall, not a loss. */
  maxSendGapMs: number;
  outages: Outage[];
  /** The longest outage that ended, in ms; 0 without one. */
  longestGapMs: number;
  /**
   * The receiver's longest wait between two arrivals: about a period while traffic flows. It
   * also sees a stop that lost nothing, packets held in a queue and delivered late.
   */
  longestSilenceMs: number;
}

export const RATE_TOLERANCE = 0.95;
const DEFAULT_GRACE_MS = 100;

/** Every send with what became of it. */
export function fates(flow: Flow, options: AnalyzeOptions = {}): SendFate[] {
  const last = flow.sends.at(-1);
  if (!last) return [];
  const firstArrival = new Map<number, number>();
  for (const a of flow.arrivals) if (!firstArrival.has(a.seq)) firstArrival.set(a.seq, a.recvMs);
  const tailMs = (2 * 1000) / flow.ratePps + (options.graceMs ?? DEFAULT_GRACE_MS);
  const from = flow.receiverStartMs ?? Number.NEGATIVE_INFINITY;
  const to = Math.min(last.sentMs, flow.receiverEndMs ?? last.sentMs) - tailMs;
  return flow.sends.map((send) => {
    const recvMs = firstArrival.get(send.seq) ?? null;
    const fate: Fate =
      recvMs !== null ? "arrived" : send.sentMs >= from && send.sentMs <= to ? "lost" : "unjudged";
    return { ...send, fate, recvMs };
  });
}

export function analyzeFlow(flow: Flow, options: AnalyzeOptions = {}): FlowAnalysis {
  const judged = fates(flow, options);
  const outages = findOutages(judged);
  const expected = expectedSends(flow);
  const sentSeqs = new Set(flow.sends.map((s) => s.seq));
  const seen = new Set<number>();
  let duplicates = 0;
  let reordered = 0;
  let unmatched = 0;
  let highest = -1;
  for (const { seq } of flow.arrivals) {
    if (!sentSeqs.has(seq)) unmatched++;
    if (seen.has(seq)) {
      duplicates++;
      continue;
    }
    seen.add(seq);
    if (seq < highest) reordered++;
    highest = Math.max(highest, seq);
  }
  const durations = outages.flatMap((o) => (o.durationMs === null ? [] : [o.durationMs]));
  return {
    sent: flow.sends.length,
    sendErrors: flow.sends.filter((s) => s.error !== undefined).length,
    received: judged.filter((s) => s.fate === "arrived").length,
    lost: judged.filter((s) => s.fate === "lost").length,
    unjudged: judged.filter((s) => s.fate === "unjudged").length,
    duplicates,
    reordered,
    unmatched,
    expected,
    rateMet: expected > 0 && flow.sends.length >= RATE_TOLERANCE * expected,
    maxSendGapMs: maxSendGap(flow),
    outages,
    longestGapMs: Math.max(0, ...durations),
    longestSilenceMs: longestSilence(flow.arrivals),
  };
}

function findOutages(judged: SendFate[]): Outage[] {
  const outages: Outage[] = [];
  let i = 0;
  while (i < judged.length) {
    if (judged[i]?.fate !== "lost") {
      i++;
      continue;
    }
    const first = i;
    while (judged[i]?.fate === "lost") i++;
    const start = judged[first] as SendFate;
    const after = judged.slice(i).find((s) => s.fate === "arrived");
    outages.push({
      firstSeq: start.seq,
      lastSeq: (judged[i - 1] as SendFate).seq,
      lost: i - first,
      startMs: start.sentMs,
      endMs: after?.sentMs ?? null,
      durationMs: after ? after.sentMs - start.sentMs : null,
    });
  }
  return outages;
}

/** The deadlines from startMs up to the last send, at the flow's rate. */
function expectedSends(flow: Flow): number {
  const last = flow.sends.at(-1);
  if (!last) return 0;
  // Rounded: a timer may fire a fraction of a ms before its deadline by this clock.
  return Math.round(((last.sentMs - flow.startMs) * flow.ratePps) / 1000) + 1;
}

function longestSilence(arrivals: Arrival[]): number {
  let longest = 0;
  let previous = arrivals[0]?.recvMs ?? 0;
  for (const { recvMs } of arrivals) {
    longest = Math.max(longest, recvMs - previous);
    previous = recvMs;
  }
  return longest;
}

function maxSendGap(flow: Flow): number {
  let gap = 0;
  let previous = flow.startMs;
  for (const { sentMs } of flow.sends) {
    gap = Math.max(gap, sentMs - previous);
    previous = sentMs;
  }
  return gap;
}

/** The first arrival of a packet sent after `afterMs`, by arrival time; null if none. */
export function firstThroughAfter(flow: Flow, afterMs: number): Arrival | null {
  let first: Arrival | null = null;
  for (const a of flow.arrivals)
    if (a.sentMs > afterMs && (first === null || a.recvMs < first.recvMs)) first = a;
  return first;
}

/** Packets sent after `recoveryMs` that never arrived; those maybe still in flight excluded. */
export function lostAfter(
  flow: Flow,
  recoveryMs: number,
  options: AnalyzeOptions = {},
): SendFate[] {
  return fates(flow, options).filter((s) => s.fate === "lost" && s.sentMs > recoveryMs);
}

export interface BinWindow {
  startMs: number;
  endMs: number;
  binMs: number;
}

/** How many of `timesMs` fall in each bin of [startMs, endMs); the last bin may be short. */
export function countPerBin(timesMs: Iterable<number>, window: BinWindow): number[] {
  const { startMs, endMs, binMs } = window;
  const bins = new Array<number>(Math.max(0, Math.ceil((endMs - startMs) / binMs))).fill(0);
  for (const t of timesMs) {
    if (t < startMs || t >= endMs) continue;
    // min(): rounding can put a time just before endMs one bin too far.
    const i = Math.min(Math.floor((t - startMs) / binMs), bins.length - 1);
    bins[i] = (bins[i] ?? 0) + 1;
  }
  return bins;
}

/** Packets per bin as the receiver saw them, by arrival time (copies included). */
export function arrivalBins(flow: Flow, window: BinWindow): number[] {
  return countPerBin(
    flow.arrivals.map((a) => a.recvMs),
    window,
  );
}

/** Lost packets per bin, by send time. */
export function lossBins(flow: Flow, window: BinWindow, options: AnalyzeOptions = {}): number[] {
  const lost = fates(flow, options).filter((s) => s.fate === "lost");
  return countPerBin(
    lost.map((s) => s.sentMs),
    window,
  );
}
