import { spawn } from "node:child_process";
import t from "tap";
import type { FenceValue } from "../../control-plane/src/fleet/fence-tags.ts";
import { inspectContainers } from "../../control-plane/src/lab/docker.ts";
import { directionResult, runFault } from "../../control-plane/src/lab/fault-run.ts";
import { failNode, healNode } from "../../control-plane/src/lab/faults.ts";
import { CONTROLLER_PORT } from "../../control-plane/src/lab/nodes.ts";
import { readTraffic, trafficFlowing } from "../../control-plane/src/lab/traffic-run.ts";
import { waitUntil } from "../../control-plane/src/lab/wait.ts";
import {
  controllerEvents,
  controllerStatuses,
  deployTestLab,
  type Failover,
  failoversSince,
  fenceOf,
  labCase,
  lostAfterRecoveryDetail,
  partnerOf,
  recoveredCleanly,
  reportRun,
  routeTargets,
  type TestLab,
  watchRoutes,
} from "../helpers/lab.ts";
import { swanpair } from "../helpers/swanpair-bin.ts";

/**
 * The failure matrix, the faults that are not one appliance's (docs/failover.md): the central
 * controller killed right after it decided a failover and started again, which must finish
 * that decision with its epoch and never decide it a second time; and both members of a pair
 * down, which must raise the alarm (status, metrics) and move nothing back and forth. One lab,
 * test/fixtures/labs/matrix-controller.yml, with the default lab's timers.
 */

// The file takes 53 to 62 s (two cases of 18 to 28 s after a deploy of 11 to 16 s); on a cold
// machine the deploy first builds the lab's image (45 s from nothing, docs/lab.md), which
// brings it near tap's 120 s.
t.setTimeout(240_000);

const lab = await deployTestLab(t, "matrix-controller.yml");
const A = lab.pairOf.a ?? "";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const decisions = (f: Failover[]) =>
  f.map(({ pair, from, to, reason }) => ({ pair, from, to, reason }));

interface Killed {
  decision: Failover;
  killedAt: number;
  /** What EC2 held right after the kill: had the dead controller written the fence, the routes? */
  atKill: { fence: FenceValue | undefined; routes: Record<string, string> };
  restartedAt: number;
}

/**
 * Follows the central controller's log and, once it has logged a failover decision of PAIR,
 * kills its container the moment EC2 shows that decision's fence, before or while it writes
 * the routes (the adapter tags first, then replaces the routes): SIGKILL to the container's
 * init from here, as `docker kill` does, without the docker CLI's delay. Reads what EC2 holds
 * then, and starts the container again (lab heal).
 */
async function killOnDecision(
  lab: TestLab,
  pair: string,
  progress: (line: string) => void,
  timeoutMs = 30_000,
): Promise<Killed> {
  const container = lab.plan.controller.node.container;
  const [init] = await inspectContainers([container]);
  if (!init?.running) throw new Error(`${container} is not running`);
  const follow = spawn(
    "docker",
    ["logs", "--follow", "--since", new Date().toISOString(), container],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const decision = await new Promise<Failover>((resolve, reject) => {
    let rest = "";
    const timer = setTimeout(() => {
      follow.kill();
      reject(new Error(`no failover of ${pair} in ${timeoutMs} ms`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      rest += chunk.toString();
      const lines = rest.split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        let f: Record<string, unknown>;
        try {
          f = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if (f.kind !== "failover" || f.pair !== pair) continue;
        clearTimeout(timer);
        follow.stdout.off("data", onData);
        follow.stderr.off("data", onData);
        follow.kill();
        resolve({
          atMs: Date.parse(String(f.time)),
          container,
          pair,
          ...(f.from !== undefined && { from: String(f.from) }),
          to: String(f.to),
          reason: String(f.reason),
          epoch: Number(f.epoch),
        });
        return;
      }
    };
    follow.stdout.on("data", onData);
    follow.stderr.on("data", onData);
  });
  const vpc = lab.plan.vpcs.find((v) => v.pair.name === pair)?.name ?? "";
  const fenced = Date.now() + 3000;
  for (;;) {
    const fence = await fenceOf(lab, vpc);
    if (fence?.epoch === decision.epoch || Date.now() > fenced) break;
  }
  process.kill(init.pid, "SIGKILL");
  const killedAt = Date.now();
  const atKill = { fence: await fenceOf(lab, vpc), routes: await routeTargets(lab) };
  progress(
    `controller killed ${killedAt - decision.atMs} ms after it decided; EC2 then: ${JSON.stringify(atKill)}`,
  );
  // Docker sees the exit in its own time; healed before that, the container counts as running
  // and is never started again.
  await waitUntil(
    `docker sees ${container} stopped`,
    10_000,
    async () => ((await inspectContainers([container]))[0]?.running ? { not: "running" } : true),
    progress,
    50,
  );
  const restartedAt = Date.now();
  const healed = await healNode(lab.state, "controller");
  if (!healed.includes(`docker start ${container}`))
    throw new Error(`${container} was not started again: ${healed.join(", ") || "nothing done"}`);
  progress(`controller: ${healed.join(", ")}`);
  return { decision, killedAt, atKill, restartedAt };
}

await labCase(
  t,
  lab,
  "7. the controller killed mid-failover, then restarted",
  async (t, { progress, routes }) => {
    const active = routes.a ?? "";
    const partner = partnerOf(lab, active);
    const killer = killOnDecision(lab, A, progress);
    const r = await runFault(lab.state, {
      node: active,
      mode: "kill",
      progress,
      timeoutMs: 30_000,
    });
    const { decision, atKill, restartedAt } = await killer;
    reportRun(t, r);
    t.match(
      decision,
      { pair: A, from: active, to: partner, reason: "active-dead" },
      `it decided: ${A} from ${active} to ${partner}, epoch ${decision.epoch}`,
    );
    t.comment(
      `at the kill EC2 held ${atKill.fence ? `the new fence (${atKill.fence.active}, epoch ${atKill.fence.epoch})` : "no fence yet"} and a's routes on ${atKill.routes.a}: ${atKill.routes.a === partner ? "the failover was written" : atKill.fence?.epoch === decision.epoch ? "killed between the fence and the routes" : "killed before it wrote anything"}`,
    );

    // The restarted controller converges: a's side on the partner, no drift, the same epoch.
    await waitUntil(
      "the restarted controller holds a's side on the partner",
      20_000,
      async () => {
        const side = (await controllerStatuses(lab))[0]?.sides.find((s) => s.pair === A);
        return side?.active === partner && side.drift.length === 0 && side.fence !== null
          ? true
          : { not: JSON.stringify({ active: side?.active, drift: side?.drift.length }) };
      },
      progress,
    );
    const side = (await controllerStatuses(lab))[0]?.sides.find((s) => s.pair === A);
    t.equal(side?.fence?.epoch, decision.epoch, "its status: the fence of the failover's epoch");
    t.match(
      await fenceOf(lab, "a"),
      { active: partner, epoch: decision.epoch },
      `EC2's fence tag: ${partner}, epoch ${decision.epoch}`,
    );
    await sleep(2000);
    const all = await failoversSince(lab, r.fault.at);
    t.same(
      all.filter((f) => f.pair === A && f.epoch > decision.epoch),
      [],
      "no failover with a higher epoch",
    );
    const again = all.filter((f) => f.pair === A && f.atMs >= restartedAt);
    const adopted = (await controllerEvents(lab, restartedAt, "adopted")).filter(
      (l) => l.fields.pair === A,
    );
    if (atKill.fence?.epoch === decision.epoch) {
      t.match(
        adopted.map((l) => l.fields),
        [{ epoch: decision.epoch, source: "fence", active: partner }],
        "on restart it adopted the fence the failover wrote",
      );
      t.same(decisions(again), [], "and decided nothing again");
    } else {
      // Killed before the fence reached EC2: nothing was decided as far as anyone can see, and
      // the restarted controller decides it, with the same epoch.
      t.match(
        again,
        [{ from: active, to: partner, epoch: decision.epoch }],
        "killed before the fence was written: the restarted controller decided it, same epoch",
      );
    }
    t.same(await routeTargets(lab), { a: partner, b: routes.b }, "a's routes on the partner");
    recoveredCleanly(t, r);
  },
);

await labCase(t, lab, "8. both members of a pair down", async (t, { progress, routes }) => {
  const members = lab.plan.vpcs.find((v) => v.name === "a")?.appliances.map((a) => a.name) ?? [];
  const down = Date.now();
  await Promise.all(members.map((m) => failNode(lab.state, m, "kill")));
  progress(`killed ${members.join(" and ")}`);
  const watched = await watchRoutes(lab, 8000);
  t.comment(`routes while both were down: ${JSON.stringify(watched)}`);
  t.ok((watched.a ?? []).length <= 2, "a's routes changed once at most: no flapping");
  t.same(watched.b, [routes.b], "b's routes did not move");
  const during = (await failoversSince(lab, down)).filter((f) => f.pair === A);
  t.ok(during.length <= 1, `one failover of ${A} at most (${during.length})`);

  const status = await swanpair("status", "--config", lab.state.fleetFile, "--json");
  t.equal(status.code, 1, "swanpair status exits 1");
  const shown = JSON.parse(status.stdout) as {
    sides: Array<{ pair: string; alarm: { reason: string } | null }>;
  };
  const alarm = shown.sides.find((s) => s.pair === A)?.alarm;
  t.ok(alarm, `swanpair status shows ${A}'s alarm (${alarm?.reason})`);

  const metrics = await (
    await fetch(`http://${lab.plan.controller.internetAddress}:${CONTROLLER_PORT}/metrics`)
  ).text();
  const line = metrics
    .split("\n")
    .find((l) => l.startsWith("swanpair_alarm{") && l.includes(`pair="${A}"`));
  t.match(line, / 1$/, `the controller's /metrics: ${line}`);

  const back = Date.now();
  for (const m of members) progress(`heal: ${(await healNode(lab.state, m)).join(", ")}`);
  await waitUntil(
    "traffic flowing again both ways",
    60_000,
    () => trafficFlowing(lab.plan, 300),
    progress,
    200,
  );
  await sleep(3000);
  for (const x of await readTraffic(lab.plan)) {
    const d = directionResult(x, down);
    t.comment(
      `${d.from} -> ${d.to}: out for ${d.gapMs} ms (both down, back ${Date.now() - back} ms ago), ${lostAfterRecoveryDetail(x, down)}`,
    );
    // A returning member makes its IKE_SAs and the far agents start its CHILD_SAs (decision
    // 0017, "Which end starts"), so the far ends, which carry traffic, lose nothing to it.
    t.equal(d.lostAfterRecovery, 0, `${d.from} -> ${d.to}: no packet lost after recovery`);
    t.equal(d.outages, 1, `${d.from} -> ${d.to}: one outage`);
  }
  const all = (await failoversSince(lab, down)).filter((f) => f.pair === A);
  t.comment(`failovers of ${A} since the kill: ${JSON.stringify(decisions(all))}`);
  t.ok(all.length <= 1, `one failover of ${A} at most, the recovery included (${all.length})`);
});
