import t from "tap";
import {
  type Arrival,
  analyzeFlow,
  arrivalBins,
  countPerBin,
  type Flow,
  type FlowAnalysis,
  firstThroughAfter,
  lossBins,
  lostAfter,
  type Send,
} from "../../control-plane/src/lab/traffic/analyze.ts";

/** Synthetic streams: 50 pps (a 20 ms period) from T0, 1 ms on the wire unless said otherwise. */
const T0 = 1_767_268_800_000;
const PERIOD = 20;

interface Shape {
  n?: number;
  /** Sequence numbers that never arrive. */
  lose?: number[];
  /** Sequence numbers whose send failed with ENETUNREACH (so never arrive either). */
  fail?: number[];
  /** Sequence numbers that arrive twice. */
  dup?: number[];
  /** [seq, k]: seq arrives right after seq + k instead of in order. */
  late?: Array<[number, number]>;
  /** Send times by index, instead of one period apart. */
  sentAt?: (i: number) => number;
  /** Sequence numbers held in a queue and delivered together at untilMs. */
  held?: { seqs: number[]; untilMs: number };
  receiverStartMs?: number;
  receiverEndMs?: number;
  extraArrivals?: Arrival[];
}

function stream(shape: Shape = {}): Flow {
  const { n = 100, lose = [], fail = [], dup = [], late = [] } = shape;
  const sentAt = shape.sentAt ?? ((i: number) => T0 + i * PERIOD);
  const sends: Send[] = Array.from({ length: n }, (_, seq) =>
    fail.includes(seq)
      ? { seq, sentMs: sentAt(seq), error: "ENETUNREACH" }
      : { seq, sentMs: sentAt(seq) },
  );
  let order = sends.filter((s) => !lose.includes(s.seq) && !fail.includes(s.seq)).map((s) => s.seq);
  for (const [seq, k] of late) {
    order = order.filter((s) => s !== seq);
    order.splice(order.indexOf(seq + k) + 1, 0, seq);
  }
  order = order.flatMap((seq) => (dup.includes(seq) ? [seq, seq] : [seq]));
  // Arrival times follow the arrival order, each at least 1 ms after its send.
  let clock = 0;
  const arrivals = order.map((seq) => {
    const sentMs = sentAt(seq);
    const held = shape.held?.seqs.includes(seq) ? shape.held.untilMs : 0;
    clock = Math.max(clock + 0.1, sentMs + 1, held);
    return { seq, sentMs, recvMs: clock };
  });
  return {
    ratePps: 1000 / PERIOD,
    startMs: T0,
    sends,
    arrivals: [...arrivals, ...(shape.extraArrivals ?? [])],
    ...(shape.receiverStartMs !== undefined && { receiverStartMs: shape.receiverStartMs }),
    ...(shape.receiverEndMs !== undefined && { receiverEndMs: shape.receiverEndMs }),
  };
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

const CLEAN: FlowAnalysis = {
  sent: 100,
  sendErrors: 0,
  received: 100,
  lost: 0,
  unjudged: 0,
  duplicates: 0,
  reordered: 0,
  unmatched: 0,
  expected: 100,
  rateMet: true,
  maxSendGapMs: PERIOD,
  outages: [],
  longestGapMs: 0,
  longestSilenceMs: PERIOD,
};

const outage = (firstSeq: number, lastSeq: number, after: number | null) => ({
  firstSeq,
  lastSeq,
  lost: lastSeq - firstSeq + 1,
  startMs: T0 + firstSeq * PERIOD,
  endMs: after === null ? null : T0 + after * PERIOD,
  durationMs: after === null ? null : (after - firstSeq) * PERIOD,
});

const CASES: Array<[string, Shape, Partial<FlowAnalysis>]> = [
  ["no loss", {}, {}],
  [
    "one outage of 600 ms",
    { lose: range(40, 69) },
    {
      received: 70,
      lost: 30,
      outages: [outage(40, 69, 70)],
      longestGapMs: 600,
      longestSilenceMs: 620,
    },
  ],
  [
    "two outages: the longest gap is the longer one",
    { lose: [...range(20, 24), ...range(60, 79)] },
    {
      received: 75,
      lost: 25,
      outages: [outage(20, 24, 25), outage(60, 79, 80)],
      longestGapMs: 400,
      longestSilenceMs: 420,
    },
  ],
  [
    "loss at the start",
    { lose: range(0, 9) },
    { received: 90, lost: 10, outages: [outage(0, 9, 10)], longestGapMs: 200 },
  ],
  [
    // The last 2 periods + 100 ms (seq 93 on) may be in flight: unjudged, not lost.
    "loss at the end: an outage still open when the record ends",
    { lose: range(80, 99) },
    { received: 80, lost: 13, unjudged: 7, outages: [outage(80, 92, null)], longestGapMs: 0 },
  ],
  [
    "the last packets missing are in flight, not lost",
    { lose: [97, 98, 99] },
    { received: 97, lost: 0, unjudged: 3 },
  ],
  [
    "a receiver that stopped recording early leaves what it could not see unjudged",
    { lose: range(50, 99), receiverEndMs: T0 + 1000 },
    { received: 50, lost: 0, unjudged: 50 },
  ],
  [
    "packets sent before the receiver started met no listener: unjudged, no outage",
    { lose: range(0, 4), receiverStartMs: T0 + 90 },
    { received: 95, lost: 0, unjudged: 5 },
  ],
  [
    "a stop that lost nothing, the packets held and delivered late: a silence, no outage",
    { held: { seqs: range(40, 69), untilMs: T0 + 70 * PERIOD } },
    { longestSilenceMs: 70 * PERIOD - (39 * PERIOD + 1) },
  ],
  ["duplicates are counted, not received twice", { dup: [10, 11, 50] }, { duplicates: 3 }],
  [
    "reordering: an arrival behind a higher sequence number",
    {
      late: [
        [10, 1],
        [50, 3],
      ],
    },
    { reordered: 2, longestSilenceMs: 2 * PERIOD },
  ],
  [
    "failed sends are lost, and counted as send errors too",
    { fail: range(30, 34) },
    {
      received: 95,
      lost: 5,
      sendErrors: 5,
      outages: [outage(30, 34, 35)],
      longestGapMs: 100,
      longestSilenceMs: 120,
    },
  ],
  [
    "rate not met: half the rate",
    { sentAt: (i) => T0 + i * 2 * PERIOD },
    { expected: 199, rateMet: false, maxSendGapMs: 2 * PERIOD, longestSilenceMs: 2 * PERIOD },
  ],
  [
    "a sender stall is no outage, but the rate is not met",
    { sentAt: (i) => T0 + i * PERIOD + (i >= 50 ? 500 : 0) },
    { expected: 125, rateMet: false, maxSendGapMs: 520, longestSilenceMs: 520 },
  ],
  [
    "an arrival the sender's record does not hold",
    { extraArrivals: [{ seq: 500, sentMs: T0, recvMs: T0 + 2500 }] },
    { unmatched: 1, longestSilenceMs: 2500 - (99 * PERIOD + 1) },
  ],
];

t.test("analyzeFlow", async (t) => {
  for (const [name, shape, want] of CASES)
    t.same(analyzeFlow(stream(shape)), { ...CLEAN, ...want }, name);
});

t.test("no sends: nothing sent, nothing expected, the rate not met", async (t) => {
  const a = analyzeFlow({ ratePps: 50, startMs: T0, sends: [], arrivals: [] });
  t.match(a, { sent: 0, expected: 0, rateMet: false, outages: [], longestGapMs: 0 });
});

t.test("the grace before the end can be set", async (t) => {
  const flow = stream({ lose: [94, 95, 96, 97, 98, 99] });
  t.match(analyzeFlow(flow), { lost: 0, unjudged: 6 });
  t.match(analyzeFlow(flow, { graceMs: 0 }), { lost: 4, unjudged: 2 });
});

t.test("first packet through after a time: by arrival, of packets sent after it", async (t) => {
  const flow = stream({ lose: range(40, 69), late: [[71, 1]] });
  // Sent after seq 69's time: 70 arrives first (71 is late behind 72).
  t.match(firstThroughAfter(flow, T0 + 69 * PERIOD), { seq: 70, sentMs: T0 + 70 * PERIOD });
  t.match(firstThroughAfter(flow, T0 + 70 * PERIOD), { seq: 72 }, "72 overtook 71");
  t.equal(firstThroughAfter(flow, T0 + 99 * PERIOD), null, "nothing sent after the last send");
});

t.test("lost after recovery", async (t) => {
  const recovered = T0 + 70 * PERIOD;
  t.same(lostAfter(stream({ lose: range(40, 69) }), recovered), [], "nothing after the outage");
  const relapse = lostAfter(stream({ lose: [...range(40, 69), 80, 81] }), recovered);
  t.same(
    relapse.map((s) => s.seq),
    [80, 81],
  );
  t.same(lostAfter(stream({ lose: [...range(40, 69), 99] }), recovered), [], "99 is in flight");
});

t.test("countPerBin", async (t) => {
  const window = { startMs: 1000, endMs: 1250, binMs: 100 };
  t.same(countPerBin([], window), [0, 0, 0], "the last bin may be short");
  t.same(countPerBin([999.9, 1000, 1099.9, 1100, 1249.9, 1250], window), [2, 1, 1], "[start, end)");
  t.same(countPerBin([5], { startMs: 0, endMs: 0, binMs: 20 }), [], "an empty window");
  // 3.4999999999999996 / 0.7 rounds to 5: still the last bin, not a sixth.
  t.same(
    countPerBin([3.4999999999999996], { startMs: 0, endMs: 3.5, binMs: 0.7 }),
    [0, 0, 0, 0, 1],
  );
});

t.test("arrivals per 100 ms and losses per 20 ms", async (t) => {
  const flow = stream({ lose: range(40, 69) });
  const window = (binMs: number) => ({ startMs: T0, endMs: T0 + 2000, binMs });
  const arrivals = arrivalBins(flow, window(100));
  t.equal(arrivals.length, 20);
  t.same(arrivals.slice(6, 16), [5, 5, 0, 0, 0, 0, 0, 0, 5, 5], "5 per 100 ms, none while out");
  const losses = lossBins(flow, window(20));
  t.equal(losses.length, 100);
  t.same(
    losses.map((n, i) => (n ? i : -1)).filter((i) => i >= 0),
    range(40, 69),
    "one loss per 20 ms bin, in the outage's bins",
  );
});
