import t from "tap";
import { runFault } from "../../control-plane/src/lab/fault-run.ts";
import { healNode } from "../../control-plane/src/lab/faults.ts";
import { readTraffic } from "../../control-plane/src/lab/traffic-run.ts";
import {
  controllerEvents,
  deployTestLab,
  failoversSince,
  labCase,
  partnerOf,
  recoveredCleanly,
  reportRun,
  routeTargets,
  waitForFailover,
  watchRoutes,
} from "../helpers/lab.ts";

/**
 * The failure matrix, preemption (docs/failover.md, "Hold-down and preemption"): with
 * `preempt: true` the routes go back to the preferred member once it has been healthy for a
 * whole hold-down (2 s in test/fixtures/labs/preempt.yml), and the planned move back costs
 * the traffic less than a second. Without preemption they stay (lab-failover.test.ts, case 1).
 */

const lab = await deployTestLab(t, "preempt.yml");
const A = lab.pairOf.a ?? "";
const holdDownMs = lab.plan.failover.holdDownMs;

await labCase(
  t,
  lab,
  "9. the failed appliance comes back: failback after the hold-down, preempt on",
  async (t, { progress, routes }) => {
    const preferred = lab.plan.vpcs.find((v) => v.name === "a")?.pair.preferred ?? "";
    const partner = partnerOf(lab, preferred);
    t.equal(routes.a, preferred, `a's routes start on the preferred member, ${preferred}`);
    const r = await runFault(lab.state, {
      node: preferred,
      mode: "kill",
      progress,
      timeoutMs: 20_000,
    });
    reportRun(t, r);
    t.match(
      r.moments.failovers,
      [{ pair: A, from: preferred, to: partner, reason: "active-dead" }],
      `one failover, to ${partner}`,
    );
    recoveredCleanly(t, r);

    const back = Date.now();
    progress(`back: ${(await healNode(lab.state, preferred)).join(", ")}`);
    const failback = await waitForFailover(lab, A, back, 60_000, progress);
    t.match(
      failback,
      { pair: A, from: partner, to: preferred, reason: "preempt" },
      `failback to ${preferred} (preempt)`,
    );
    const healthy = (await controllerEvents(lab, back, "member-health-changed")).filter(
      (l) =>
        l.fields.pair === A &&
        l.fields.member === preferred &&
        l.fields.to === "healthy" &&
        l.atMs <= failback.atMs,
    );
    const healthyAt = healthy.at(-1)?.atMs ?? Number.NaN;
    t.comment(
      `${preferred} back at +0 ms, healthy at +${healthyAt - back} ms, failback at +${failback.atMs - back} ms (hold-down ${holdDownMs} ms)`,
    );
    t.ok(
      failback.atMs - healthyAt >= holdDownMs,
      `the failback came a whole hold-down after ${preferred} was healthy`,
    );

    const watched = await watchRoutes(lab, 3000);
    t.same(watched, { a: [preferred], b: [routes.b] }, `the routes stay on ${preferred}`);
    t.same(
      (await failoversSince(lab, back)).map((f) => f.to),
      [preferred],
      "one move since it came back: no flapping",
    );
    t.same(await routeTargets(lab), { a: preferred, b: routes.b }, "where EC2 holds the routes");
    for (const d of await readTraffic(lab.plan)) {
      const since = d.analysis.outages.filter((o) => o.endMs === null || o.endMs >= back);
      const gap = Math.max(0, ...since.map((o) => o.durationMs ?? Number.POSITIVE_INFINITY));
      t.comment(
        `${d.from} -> ${d.to}: ${since.length} outage(s) since it came back, the longest ${gap} ms (${since.map((o) => o.lost).reduce((a, b) => a + b, 0)} lost)`,
      );
      t.ok(gap < 1000, `${d.from} -> ${d.to}: the failback's gap is under 1 s`);
    }
  },
);
