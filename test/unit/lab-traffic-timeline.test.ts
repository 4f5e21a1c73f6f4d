import t from "tap";
import { formatTimeline, timelineJson } from "../../control-plane/src/lab/traffic/timeline.ts";

const FAULT = 1_767_268_800_000;

const EVENTS = [
  { name: "fault", atMs: FAULT, detail: "docker kill swanpair-demo-a1" },
  { name: "route change", atMs: FAULT + 2450.6, detail: "rtb-a: 10.2.0.0/16 via a2" },
  { name: "detection", atMs: FAULT + 1203.2, detail: "a1 missed 3 probes" },
  { name: "decision", atMs: FAULT + 1203.4 },
  { name: "first packet through", atMs: FAULT + 12_345.4, detail: "seq 512, a to b" },
  { name: "last packet before", atMs: FAULT - 18.7 },
];

t.test("formatTimeline: moments in time order, relative to the origin, aligned", async (t) => {
  t.equal(
    formatTimeline(EVENTS, FAULT),
    [
      " -0.019 s  last packet before",
      " +0.000 s  fault: docker kill swanpair-demo-a1",
      " +1.203 s  detection: a1 missed 3 probes",
      " +1.203 s  decision",
      " +2.451 s  route change: rtb-a: 10.2.0.0/16 via a2",
      "+12.345 s  first packet through: seq 512, a to b",
    ].join("\n"),
  );
  t.equal(formatTimeline([], FAULT), "");
});

t.test("timelineJson: the same moments and numbers as the table", async (t) => {
  const json = timelineJson(EVENTS, FAULT);
  t.equal(json.originMs, FAULT);
  t.same(
    json.events.map((e) => [e.name, e.offsetMs, e.detail]),
    [
      ["last packet before", -19, undefined],
      ["fault", 0, "docker kill swanpair-demo-a1"],
      ["detection", 1203, "a1 missed 3 probes"],
      ["decision", 1203, undefined],
      ["route change", 2451, "rtb-a: 10.2.0.0/16 via a2"],
      ["first packet through", 12345, "seq 512, a to b"],
    ],
  );
  t.equal(json.events[0]?.atMs, FAULT - 18.7, "the moment itself, unrounded");
  t.notOk("detail" in (json.events[3] ?? {}), "no detail key without a detail");
  const table = formatTimeline(EVENTS, FAULT).split("\n");
  json.events.forEach((e, i) => {
    t.match(table[i], `${(Math.abs(e.offsetMs) / 1000).toFixed(3)} s  ${e.name}`);
  });
});
