/**
 * The demo's traffic plot: packets per bin over time, one line per direction, the failover's
 * moments as dashed vertical lines. Pure and deterministic (coordinates to one decimal), and
 * self-contained: no fonts, scripts or styles from elsewhere.
 */

export interface TrafficSeries {
  label: string;
  /** Packets per bin, the first bin starting at startMs. */
  bins: number[];
}

export interface TrafficMark {
  atMs: number;
  label: string;
}

export interface TrafficPlot {
  series: TrafficSeries[];
  binMs: number;
  /** Time zero of the x axis, wall-clock ms. */
  startMs: number;
  marks: TrafficMark[];
  title: string;
}

const WIDTH = 960;
const LEFT = 64;
const RIGHT = WIDTH - 24;
const PLOT_HEIGHT = 300;
const FONT = 11;
/** An average sans-serif glyph is about 0.6 em wide: enough to keep labels apart. */
const CHAR_WIDTH = 0.62 * FONT;
const ROW = 14;
/** The baseline of a mark label's row, above the plot. */
const rowY = (row: number) => 44 + row * ROW;
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
const X_STEPS_S = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600];

/** One decimal, and never "-0.0". */
const f = (n: number) => (Math.round(n * 10) / 10 + 0).toFixed(1);

const xmlText = (s: string) =>
  s.replace(/[&<>]/g, (c) => `&${{ "&": "amp", "<": "lt", ">": "gt" }[c]};`);

const textWidth = (s: string) => s.length * CHAR_WIDTH;

function text(x: number, y: number, body: string, attrs = "", size = FONT): string {
  return `<text x="${f(x)}" y="${f(y)}" font-size="${size}"${attrs}>${xmlText(body)}</text>`;
}

function line(cls: string, x1: number, y1: number, x2: number, y2: number, attrs: string): string {
  return `<line class="${cls}" x1="${f(x1)}" y1="${f(y1)}" x2="${f(x2)}" y2="${f(y2)}" ${attrs}/>`;
}

interface PlacedLabel {
  mark: TrafficMark;
  x: number;
  /** Where its text starts and ends; it is drawn left of its line near the right edge. */
  from: number;
  to: number;
  row: number;
}

/** Each label on the first row where it clears the labels already there, left to right. */
function placeLabels(marks: TrafficMark[], xOf: (ms: number) => number): PlacedLabel[] {
  const ends: number[] = [];
  const placed = marks
    .map((mark) => {
      const x = xOf(mark.atMs);
      const w = textWidth(mark.label);
      const [from, to] = x + 3 + w <= RIGHT ? [x + 3, x + 3 + w] : [x - 3 - w, x - 3];
      return { mark, x, from, to, row: 0 };
    })
    .sort((a, b) => a.from - b.from);
  for (const label of placed) {
    let row = ends.findIndex((end) => end + 8 <= label.from);
    if (row === -1) row = ends.push(0) - 1;
    ends[row] = label.to;
    label.row = row;
  }
  return placed;
}

/** The smallest step from `steps` that makes at most `most` intervals of `span`. */
function step(span: number, most: number, steps: number[]): number {
  return steps.find((s) => span / s <= most) ?? span / most;
}

interface Frame {
  xOf: (ms: number) => number;
  yOf: (n: number) => number;
  top: number;
  bottom: number;
}

export function trafficSvg(plot: TrafficPlot): string {
  const { binMs, startMs } = plot;
  const longest = Math.max(0, ...plot.series.map((s) => s.bins.length));
  const markMs = plot.marks.map((m) => m.atMs - startMs);
  const t0 = Math.min(0, ...markMs);
  const t1 = Math.max(longest * binMs, ...markMs, t0 + 1000);
  const xOf = (ms: number) => LEFT + ((ms - t0) / (t1 - t0)) * (RIGHT - LEFT);
  const labels = placeLabels(plot.marks, (ms) => xOf(ms - startMs));
  const top = rowY(Math.max(0, ...labels.map((l) => l.row + 1))) + 6;
  const bottom = top + PLOT_HEIGHT;
  // A loop, not Math.max(...bins): an hour in 100 ms bins is more arguments than a call takes.
  const peak = plot.series.reduce((m, s) => s.bins.reduce((n, b) => Math.max(n, b), m), 1);
  const yStep = step(peak, 6, [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]);
  // Headroom above the peak, so a steady stream does not run along the frame.
  const yMax = Math.floor(peak / yStep) * yStep + yStep;
  const frame: Frame = { xOf, yOf: (n) => bottom - (n / yMax) * PLOT_HEIGHT, top, bottom };
  const height = f(bottom + 72);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    text(LEFT, 24, plot.title, ' font-weight="bold"', 16),
    ...yAxis(frame, yMax, yStep, binMs),
    ...xAxis(frame, t0, t1),
    ...plot.series.flatMap((series, i) => seriesPath(frame, series.bins, binMs, color(i))),
    ...markLines(frame, labels),
    ...legend(frame, plot.series),
    "</svg>\n",
  ].join("\n");
}

const color = (i: number) => COLORS[i % COLORS.length] as string;

function yAxis({ yOf, top, bottom }: Frame, yMax: number, yStep: number, binMs: number): string[] {
  const out: string[] = [];
  for (let n = 0; n <= yMax; n += yStep) {
    out.push(line("grid", LEFT, yOf(n), RIGHT, yOf(n), 'stroke="#e0e0e0"'));
    out.push(text(LEFT - 6, yOf(n) + 4, String(n), ' text-anchor="end"'));
  }
  const mid = (top + bottom) / 2;
  const turned = ` text-anchor="middle" transform="rotate(-90 18 ${f(mid)})"`;
  out.push(line("axis", LEFT, top, LEFT, bottom, 'stroke="#000000"'));
  out.push(text(18, mid, `packets per ${binMs} ms`, turned));
  return out;
}

function xAxis({ xOf, bottom }: Frame, t0: number, t1: number): string[] {
  const out: string[] = [];
  const xStep = step((t1 - t0) / 1000, 10, X_STEPS_S) * 1000;
  const decimals = xStep < 1000 ? 1 : 0;
  for (let ms = Math.ceil(t0 / xStep) * xStep; ms <= t1 + 1e-6; ms += xStep) {
    out.push(line("tick", xOf(ms), bottom, xOf(ms), bottom + 4, 'stroke="#000000"'));
    out.push(text(xOf(ms), bottom + 16, (ms / 1000).toFixed(decimals), ' text-anchor="middle"'));
  }
  out.push(line("axis", LEFT, bottom, RIGHT, bottom, 'stroke="#000000"'));
  out.push(text((LEFT + RIGHT) / 2, bottom + 34, "time (s)", ' text-anchor="middle"'));
  return out;
}

/** Steps, not slopes between bin centres: a bin's count holds for the whole bin. */
function seriesPath({ xOf, yOf }: Frame, bins: number[], binMs: number, stroke: string): string[] {
  const [first, ...rest] = bins;
  if (first === undefined) return [];
  const d = [`M${f(xOf(0))},${f(yOf(first))}`];
  let level = first;
  rest.forEach((n, b) => {
    if (n !== level) d.push(`H${f(xOf((b + 1) * binMs))} V${f(yOf(n))}`);
    level = n;
  });
  d.push(`H${f(xOf(bins.length * binMs))}`);
  return [
    `<path class="series" d="${d.join(" ")}" fill="none" stroke="${stroke}" stroke-width="1.5"/>`,
  ];
}

function markLines({ bottom }: Frame, labels: PlacedLabel[]): string[] {
  const dashed = 'stroke="#555555" stroke-dasharray="4 3"';
  // Labels after every line and with a white halo: a line running down past a label stays legible.
  const halo = ' fill="#333333" stroke="#ffffff" stroke-width="3" paint-order="stroke"';
  return [
    ...labels.map((l) => line("mark", l.x, rowY(l.row) - FONT, l.x, bottom, dashed)),
    ...labels.map((l) => text(l.from, rowY(l.row), l.mark.label, halo)),
  ];
}

function legend({ bottom }: Frame, series: TrafficSeries[]): string[] {
  const y = bottom + 56;
  let x = LEFT;
  return series.flatMap(({ label }, i) => {
    const swatch = line(
      "legend",
      x,
      y - 4,
      x + 24,
      y - 4,
      `stroke="${color(i)}" stroke-width="1.5"`,
    );
    const entry = [swatch, text(x + 30, y, label)];
    x += 30 + textWidth(label) + 24;
    return entry;
  });
}
