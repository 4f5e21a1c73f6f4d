import t from "tap";
import { directionResult } from "../../control-plane/src/lab/fault-run.ts";
import { labNodes, nodeOf, partitionPeer } from "../../control-plane/src/lab/faults.ts";
import { type LogLine, parseLogLines } from "../../control-plane/src/lab/lab-logs.ts";
import { controllerStatusUrls } from "../../control-plane/src/lab/nodes.ts";
import { failoverMoments } from "../../control-plane/src/lab/timeline-events.ts";
import { analyzeFlow, type Flow } from "../../control-plane/src/lab/traffic/analyze.ts";
import { type DirectionReport, trafficPairs } from "../../control-plane/src/lab/traffic-run.ts";
import { labPlan } from "../fixtures/labs.ts";

/** The lab runtime's pure parts: who is who, whom a fault cuts off, and what a run measured. */

t.test(
  "nodes: routers, appliances, hosts and the central controller, with their addresses",
  async (t) => {
    const plan = await labPlan("default");
    const nodes = labNodes(plan);
    t.same(
      nodes.map((n) => `${n.name}:${n.role}`),
      [
        "a-router:router",
        "a1:appliance",
        "a2:appliance",
        "ha:host",
        "b-router:router",
        "b1:appliance",
        "b2:appliance",
        "hb:host",
        "controller:controller",
      ],
    );
    t.same(
      nodeOf(plan, "swanpair-demo-a1").addresses,
      ["10.1.1.10", "10.1.1.11"],
      "found by container name too",
    );
    t.throws(() => nodeOf(plan, "zz"), { message: /no node zz in lab demo; nodes: a-router, a1/ });
    t.same(controllerStatusUrls(plan), ["http://198.18.0.50:9470/v1/status"]);
  },
);

t.test(
  "a partition cuts a node from the controller, or in co-located mode from its partner",
  async (t) => {
    const central = await labPlan("default");
    t.equal(partitionPeer(central, nodeOf(central, "a1")).name, "controller");
    const colocated = await labPlan("colocated");
    t.equal(partitionPeer(colocated, nodeOf(colocated, "l1")).name, "l2");
    t.throws(
      () => partitionPeer(colocated, nodeOf(colocated, "lh")),
      { message: /lh: give --from/ },
      "a host has no partner",
    );
    t.equal(controllerStatusUrls(colocated).length, 4, "one controller per appliance");
  },
);

t.test(
  "traffic runs between the first hosts of each connection's VPCs, one port each",
  async (t) => {
    const hub = await labPlan("hub");
    const pairs = trafficPairs(hub);
    t.equal(pairs.length, hub.connections.length);
    t.same(
      pairs.map((p) => p.port),
      hub.connections.map((_, i) => hub.traffic.port + i),
    );
    for (const p of pairs) t.not(p.ends[0].name, p.ends[1].name);
  },
);

t.test("log lines: JSON with a time, anything else skipped, sorted by time", async (t) => {
  const lines = parseLogLines(
    [
      '{"time":"2026-12-01T00:00:02.000Z","msg":"b"}',
      "sh: not json",
      '{"time":"2026-12-01T00:00:01.000Z","msg":"a"}',
      '{"msg":"no time"}',
    ].join("\n"),
    "c",
  );
  t.same(
    lines.map((l) => l.fields.msg),
    ["a", "b"],
  );
});

/** A 50 pps flow from 0 to 10 s whose packets sent in [from, to) were lost. */
function flow(from: number, to: number): Flow {
  const sends = Array.from({ length: 500 }, (_, i) => ({ seq: i, sentMs: 1000 + i * 20 }));
  return {
    ratePps: 50,
    startMs: 1000,
    sends,
    arrivals: sends
      .filter((s) => s.sentMs < from || s.sentMs >= to)
      .map((s) => ({ seq: s.seq, sentMs: s.sentMs, recvMs: s.sentMs + 1 })),
  };
}

const direction = (f: Flow, from = "ha", to = "hb"): DirectionReport => ({
  connection: "a-b",
  from,
  to,
  flow: f,
  analysis: analyzeFlow(f),
});
const log = (atMs: number, fields: Record<string, unknown>): LogLine => ({
  atMs,
  container: "c",
  fields,
});

t.test("a run's moments: the first of each after the fault, and every failover", async (t) => {
  const fault = { name: "fault", atMs: 5000, detail: "docker kill" };
  const m = failoverMoments(
    fault,
    [
      log(4000, { kind: "failover", pair: "old", to: "x", reason: "r", epoch: 1 }),
      log(5300, {
        kind: "member-health-changed",
        member: "a1",
        from: "healthy",
        to: "unready",
        signals: ["agent-unreachable"],
      }),
      log(5800, {
        kind: "failover",
        pair: "a-pair",
        from: "a1",
        to: "a2",
        reason: "active-dead",
        epoch: 2,
      }),
      log(5850, { msg: "routes written", target: "a2" }),
    ],
    [log(6000, { msg: "routes applied", added: ["10.2.0.0/16 via 10.1.1.138"] })],
    [direction(flow(4900, 6100)), direction(flow(99_999, 99_999), "hb", "ha")],
  );
  t.same(
    m.events.map((e) => [e.name, e.atMs]),
    [
      ["fault", 5000],
      ["detection", 5300],
      ["decision", 5800],
      ["route change", 5850],
      ["VPC router follows", 6000],
      ["first packet through", 6101],
    ],
    "a direction that lost nothing has no first packet through",
  );
  t.same(
    m.failovers,
    [{ atMs: 5800, pair: "a-pair", from: "a1", to: "a2", reason: "active-dead", epoch: 2 }],
    "the failover before the fault is not this run's",
  );
});

t.test(
  "a direction's result: the fault's outage, later outages counted, losses after recovery",
  async (t) => {
    const once = directionResult(direction(flow(4900, 6100)), 5000);
    t.match(once, { gapMs: 1200, outages: 1, lostAfterRecovery: 0 });
    const f = flow(4900, 6100);
    // A flap: a second outage after recovery.
    f.arrivals = f.arrivals.filter((a) => a.sentMs < 7000 || a.sentMs >= 7200);
    const flap = directionResult(direction(f), 5000);
    t.match(flap, { gapMs: 1200, outages: 2 });
    t.equal(flap.lostAfterRecovery, 10, "the ten packets of the second outage");
    t.match(
      directionResult(direction(flow(1000, 1200)), 5000),
      { gapMs: 0, outages: 0 },
      "an outage over before the fault is not this run's",
    );
  },
);
