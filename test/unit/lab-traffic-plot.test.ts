import t from "tap";
import { type TrafficPlot, trafficSvg } from "../../control-plane/src/lab/traffic/plot-svg.ts";
import { matchesGolden } from "../helpers/golden.ts";

const T0 = 1_767_268_800_000;

/** 50 pps each way in 100 ms bins for 6 s; a→b is out from 2.0 s to 3.2 s, b→a to 3.0 s. */
const bins = (outFrom: number, outTo: number) =>
  Array.from({ length: 60 }, (_, i) => (i >= outFrom && i < outTo ? 0 : i === outTo ? 3 : 5));

const PLOT: TrafficPlot = {
  title: "demo: docker kill swanpair-demo-a1",
  binMs: 100,
  startMs: T0,
  series: [
    { label: "host-a → host-b", bins: bins(20, 32) },
    { label: "host-b → host-a", bins: bins(20, 30) },
  ],
  marks: [
    { atMs: T0 + 2000, label: "fault" },
    { atMs: T0 + 2600, label: "detection" },
    { atMs: T0 + 2620, label: "decision" },
    { atMs: T0 + 2900, label: "route change (rtb-a & rtb-b)" },
    { atMs: T0 + 3000, label: "first packet through" },
  ],
};

t.test("golden file", async (t) => {
  await matchesGolden(t, "traffic/failover.svg", trafficSvg(PLOT));
});

/** Every tag closed in order, and no bare < or & in the text between tags. */
function balanced(svg: string): string[] {
  const problems: string[] = [];
  const open: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)\b[^<>]*?(\/?)>/g)) {
    const [, closing, name = "", selfClosing] = m;
    if (selfClosing) continue;
    if (!closing) open.push(name);
    else if (open.pop() !== name) problems.push(`</${name}> closes nothing open`);
  }
  if (open.length) problems.push(`unclosed: ${open.join(", ")}`);
  const texts = svg.replace(/<[^<>]*>/g, "\n");
  if (/[<>]|&(?!(amp|lt|gt);)/.test(texts)) problems.push("unescaped text");
  return problems;
}

t.test("well-formed, self-contained, one path per series and one line per mark", async (t) => {
  const svg = trafficSvg(PLOT);
  t.same(balanced(svg), []);
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" /);
  t.notMatch(svg, /<script|<image|@import|url\(|href=/, "nothing loaded from elsewhere");
  t.equal(svg.match(/<path class="series"/g)?.length, 2);
  t.equal(svg.match(/<line class="mark"/g)?.length, 5);
  t.match(svg, /route change \(rtb-a &amp; rtb-b\)/);
  t.match(svg, />time \(s\)</);
  t.match(svg, />packets per 100 ms</);
  t.match(svg, />host-b → host-a</, "a legend entry per series");
  for (const [, value] of svg.matchAll(/ (?:x|y|x1|y1|x2|y2)="([^"]*)"/g))
    t.match(value, /^-?\d+\.\d$/, "coordinates have one decimal");
  t.equal(trafficSvg(PLOT), svg, "deterministic");
});

/** Each mark label's text element: its x and y. */
function labels(svg: string): Map<string, { x: number; y: number }> {
  const found = new Map<string, { x: number; y: number }>();
  for (const m of svg.matchAll(/<text x="([^"]+)" y="([^"]+)"[^>]*fill="#333333"[^>]*>([^<]*)</g))
    found.set(m[3] ?? "", { x: Number(m[1]), y: Number(m[2]) });
  return found;
}

t.test("labels of close marks are staggered; far apart ones share a row", async (t) => {
  const at = labels(trafficSvg(PLOT));
  const y = (label: string) => at.get(label)?.y;
  t.not(y("detection"), y("decision"), "20 ms apart: two rows");
  t.equal(y("fault"), y("detection"), "600 ms apart: one row");
  t.not(y("route change (rtb-a & rtb-b)"), y("first packet through"));
  const lines = [...trafficSvg(PLOT).matchAll(/<line class="mark" x1="([^"]+)"/g)].map((m) =>
    Number(m[1]),
  );
  t.ok(
    [...at.values()].every((l, i) => l.x > (lines[i] ?? Number.NaN)),
    "each label starts right of its line",
  );
});

t.test("a mark near the right edge has its label on the left of its line", async (t) => {
  const svg = trafficSvg({ ...PLOT, marks: [{ atMs: T0 + 5990, label: "the end of the run" }] });
  const line = Number(svg.match(/<line class="mark" x1="([^"]+)"/)?.[1]);
  const label = labels(svg).get("the end of the run");
  t.ok(label && label.x < line, `label at ${label?.x}, line at ${line}`);
});

t.test("marks outside the bins widen the time axis", async (t) => {
  const svg = trafficSvg({
    ...PLOT,
    marks: [
      { atMs: T0 - 1000, label: "before" },
      { atMs: T0 + 9000, label: "after" },
    ],
  });
  t.match(svg, />-1</, "a tick at -1 s");
  t.match(svg, />9</, "a tick at 9 s");
  t.same(balanced(svg), []);
});

t.test("no series and no marks: still a valid, empty plot", async (t) => {
  const svg = trafficSvg({ title: "empty", binMs: 100, startMs: T0, series: [], marks: [] });
  t.same(balanced(svg), []);
  t.notMatch(svg, /class="(series|mark)"/);
});
