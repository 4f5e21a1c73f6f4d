import { execFile } from "node:child_process";
import { promisify } from "node:util";
import t, { type Test } from "tap";
import { runFault } from "../../control-plane/src/lab/fault-run.ts";
import { type FaultMode, failNode, healNode, nodeOf } from "../../control-plane/src/lab/faults.ts";
import { containerLog } from "../../control-plane/src/lab/lab-logs.ts";
import { lostAfter } from "../../control-plane/src/lab/traffic/analyze.ts";
import { readTraffic } from "../../control-plane/src/lab/traffic-run.ts";
import {
  type CaseContext,
  controllerStatuses,
  deployTestLab,
  failoversSince,
  labCase,
  partnerOf,
  recoveredCleanly,
  reportRun,
  routeTargets,
  steady,
  tunnelsOf,
  watchRoutes,
} from "../helpers/lab.ts";

/**
 * The failure matrix in containers, central controller (docs/failover.md, docs/lab.md): each
 * fault under traffic both ways, in one lab (test/fixtures/labs/matrix.yml, the default lab's
 * timers: intervalMs 200, fall 2, holdDownMs 5000, no preemption), brought back to steady
 * between cases. Each case checks what the controller decided (its failover events), where
 * EC2's routes point, and the traffic: the gap (in the TAP comments), and no packet lost once
 * it came back.
 */

// Over tap's 120 s: six cases share one lab, deployed once (12 to 16 s), rather than a deploy
// for every two or three. The file takes about two minutes (measured 116 to 123 s), 13 to 25 s
// a case, most of it the steady wait before each (a whole hold-down of health, 5 s); a cold
// machine also builds the lab's image first (45 s from nothing, docs/lab.md).
t.setTimeout(300_000);

const run = promisify(execFile);
const lab = await deployTestLab(t, "matrix.yml");
const A = lab.pairOf.a ?? "";
const B = lab.pairOf.b ?? "";

/** The failovers' gist, for t.same. */
const decisions = (f: Array<{ pair: string; from?: string; to: string; reason: string }>) =>
  f.map(({ pair, from, to, reason }) => ({ pair, from, to, reason }));

/** Faults VPC a's active appliance; a's routes must move to its partner, exactly once. */
async function failActiveOfA(
  t: Test,
  { progress, routes }: CaseContext,
  mode: FaultMode,
  timeoutMs = 20_000,
  expect = "exactly one failover",
) {
  const active = routes.a ?? "";
  const partner = partnerOf(lab, active);
  const r = await runFault(lab.state, { node: active, mode, progress, timeoutMs });
  reportRun(t, r);
  t.same(
    decisions(r.moments.failovers),
    [{ pair: A, from: active, to: partner, reason: "active-dead" }],
    `${expect}: ${A} from ${active} to ${partner}`,
  );
  return { r, active, partner };
}

await labCase(t, lab, "1. the active appliance of VPC a killed", async (t, ctx) => {
  const { progress, routes } = ctx;
  const { r, active, partner } = await failActiveOfA(t, ctx, "kill");
  t.same(await routeTargets(lab), { a: partner, b: routes.b }, "a's routes on the partner");
  for (const d of r.directions) t.ok(d.gapMs < 2000, `${d.from} -> ${d.to}: gap under 2 s`);
  recoveredCleanly(t, r);

  await t.test("it comes back: no failback, preempt is off", async (t) => {
    const back = Date.now();
    await healNode(lab.state, active);
    // steady: every member healthy for a whole hold-down, after which preemption would move.
    await steady(lab, progress);
    const watched = await watchRoutes(lab, 2000);
    t.same(await failoversSince(lab, back), [], "no failover since it came back");
    t.same(watched, { a: [partner], b: [routes.b] }, "the routes stayed on the partner");
  });
});

await labCase(
  t,
  lab,
  "2. the active appliance of VPC b killed",
  async (t, { progress, routes }) => {
    const active = routes.b ?? "";
    const partner = partnerOf(lab, active);
    const near = routes.a ?? "";
    t.comment(`before: ${near}'s tunnels ${JSON.stringify(await tunnelsOf(lab, near))}`);
    const r = await runFault(lab.state, {
      node: active,
      mode: "kill",
      progress,
      timeoutMs: 20_000,
    });
    reportRun(t, r);
    const after = await tunnelsOf(lab, near);
    t.comment(`after: ${near}'s tunnels ${JSON.stringify(after)}`);
    t.equal(after[partner]?.carries, "yes", `${near} carries towards b through ${partner} now`);
    t.same(
      decisions(r.moments.failovers.filter((f) => f.pair === A)),
      [],
      `no failover of ${A}: a is untouched`,
    );
    t.same(
      decisions(r.moments.failovers.filter((f) => f.pair === B)),
      [{ pair: B, from: active, to: partner, reason: "active-dead" }],
      `exactly one failover of ${B}, to ${partner}`,
    );
    t.same(await routeTargets(lab), { a: routes.a, b: partner }, "a's routes did not move");
    // a's active appliance carried towards the dead one: it moves to the new far member.
    for (const d of r.directions) t.ok(d.gapMs < 2000, `${d.from} -> ${d.to}: gap under 2 s`);
    recoveredCleanly(t, r);
  },
);

await labCase(t, lab, "3. the active appliance hung, then resumed", async (t, ctx) => {
  const { progress, routes } = ctx;
  const { r, active, partner } = await failActiveOfA(t, ctx, "pause");
  recoveredCleanly(t, r);

  const resumed = Date.now();
  progress(`resume: ${(await healNode(lab.state, active)).join(", ")}`);
  const watched = await watchRoutes(lab, 5000);
  t.same(await failoversSince(lab, resumed), [], "no failover in the 5 s after the resume");
  t.same(watched, { a: [partner], b: [routes.b] }, "the routes stayed on the partner");
  for (const d of await readTraffic(lab.plan)) {
    const lost = lostAfter(d.flow, resumed).length;
    t.comment(`${d.from} -> ${d.to}: ${lost} lost since the resume`);
    t.equal(lost, 0, `${d.from} -> ${d.to}: nothing lost after the resume`);
  }
});

await labCase(t, lab, "4. charon killed, its agent alive", async (t, { progress, routes }) => {
  const active = routes.a ?? "";
  const r = await runFault(lab.state, {
    node: active,
    mode: "charon",
    progress,
    settleMs: 5000,
    timeoutMs: 20_000,
  });
  reportRun(t, r);
  t.same(decisions(r.moments.failovers), [], "no failover");
  t.same(await routeTargets(lab), routes, "the routes did not move");
  // From when the kill began: the agent restarts charon within milliseconds, which under load
  // is before `docker exec kill` has returned.
  const started = (await containerLog(nodeOf(lab.plan, active).container, r.fault.began)).filter(
    (l) => l.fields.msg === "charon started",
  );
  t.ok(started.length >= 1, `${active}'s agent started charon again`);
  // The new charon makes new CHILD_SAs, not rekeys, and the member it runs on carries: the far
  // end starts the main one, so this member, answering, installs it a few ms before the far
  // end can receive on it, and a packet it sends then is lost (decision 0017). One such
  // packet is allowed; more, or a later outage, is a flap.
  recoveredCleanly(t, r, 1);
});

await labCase(
  t,
  lab,
  "5. the link between the pair's members cut",
  async (t, { progress, routes }) => {
    const active = routes.a ?? "";
    const partner = partnerOf(lab, active);
    const r = await runFault(lab.state, {
      node: active,
      mode: "partition",
      from: partner,
      progress,
      settleMs: 5000,
      timeoutMs: 20_000,
    });
    reportRun(t, r);
    const to = nodeOf(lab.plan, partner).addresses[0] ?? "";
    const ping = await run("docker", [
      ...["exec", nodeOf(lab.plan, active).container, "ping", "-c", "1", "-W", "1", to],
    ]).then(
      () => "answered",
      () => "no answer",
    );
    t.equal(ping, "no answer", `the partition is in force: ${active} cannot ping ${partner}`);
    t.ok(
      r.moments.failovers.length <= 1,
      `one route change at most (${r.moments.failovers.length})`,
    );
    recoveredCleanly(t, r);
  },
);

await labCase(t, lab, "6. the controller cut from one agent", async (t, { progress, routes }) => {
  const active = routes.a ?? "";
  const r = await runFault(lab.state, {
    node: active,
    mode: "partition",
    progress,
    settleMs: 5000,
    timeoutMs: 20_000,
  });
  reportRun(t, r);
  const [status] = await controllerStatuses(lab);
  const member = status?.sides.find((s) => s.pair === A)?.members.find((m) => m.name === active);
  t.equal(member?.agent, "unreachable", `the controller cannot reach ${active}'s agent`);
  t.same(decisions(r.moments.failovers), [], "no failover: one signal is not enough");
  t.same(await routeTargets(lab), routes, "the routes did not move");
  recoveredCleanly(t, r);
});

await labCase(
  t,
  lab,
  "7. EC2 throttled for the controller while the active appliance dies",
  async (t, ctx) => {
    const controller = lab.state.plan.controller.node.name;
    const throttledAt = Date.now();
    await failNode(lab.state, controller, "throttle-ec2");
    t.teardown(() => healNode(lab.state, controller));
    const { r, partner } = await failActiveOfA(t, ctx, "kill", 40_000, "it converges, once");
    t.same(await routeTargets(lab), { a: partner, b: ctx.routes.b }, "a's routes on the partner");
    const refused = (
      await containerLog(lab.state.plan.controller.node.container, throttledAt)
    ).filter((l) => l.fields.msg === "throttled");
    t.ok(refused.length > 0, "EC2 did refuse the controller's calls meanwhile");
    recoveredCleanly(t, r);
  },
);
