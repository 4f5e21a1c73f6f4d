import { DescribeRouteTablesCommand } from "@aws-sdk/client-ec2";
import type { Test } from "tap";
import type { ControllerStatus } from "../../control-plane/src/controller/loop.ts";
import { type FenceValue, fenceKey, parseFence } from "../../control-plane/src/fleet/fence-tags.ts";
import type { Fleet } from "../../control-plane/src/fleet/types.ts";
import { labControllers } from "../../control-plane/src/lab/controllers.ts";
import { deployLab, labEc2, loadLabFleet } from "../../control-plane/src/lab/deploy.ts";
import { destroyLab } from "../../control-plane/src/lab/destroy.ts";
import { dockerOutput, inspectContainers } from "../../control-plane/src/lab/docker.ts";
import type { FaultRun } from "../../control-plane/src/lab/fault-run.ts";
import { healNode, labNodes } from "../../control-plane/src/lab/faults.ts";
import { labRoutes } from "../../control-plane/src/lab/inspect.ts";
import { containerLog } from "../../control-plane/src/lab/lab-logs.ts";
import { controllerStatusUrls } from "../../control-plane/src/lab/nodes.ts";
import type { LabPlan } from "../../control-plane/src/lab/plan.ts";
import type { LabState } from "../../control-plane/src/lab/state.ts";
import { loadLabFile } from "../../control-plane/src/lab/topology/load.ts";
import { lostAfter } from "../../control-plane/src/lab/traffic/analyze.ts";
import {
  type DirectionReport,
  startTraffic,
  stopTraffic,
  trafficFlowing,
} from "../../control-plane/src/lab/traffic-run.ts";
import { waitUntil } from "../../control-plane/src/lab/wait.ts";
import { askAgents } from "../../control-plane/src/tunnels/ask-agents.ts";
import { tunnelsTrouble, tunnelsView } from "../../control-plane/src/tunnels/view.ts";

/**
 * The failure matrix's plumbing (test/e2e/lab-failover*.test.ts): one lab per test file from a
 * topology of test/fixtures/labs/, removed with everything it made whatever happens; traffic
 * both ways from the start; the lab brought back to steady between cases; the controller's
 * decisions, the routes and the fences read back; and, when a case fails, the tail of the
 * containers' logs in the TAP output.
 */

export interface TestLab {
  state: LabState;
  plan: LabPlan;
  fleet: Fleet;
  /** The lab's one connection, whose sides the cases look at. */
  connection: string;
  /** VPC name to its pair's name. */
  pairOf: Record<string, string>;
}

const FIXTURES = new URL("../fixtures/labs/", import.meta.url);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A line for the TAP output from a long step, with the seconds since `start`. */
export function progressTo(t: Test, start = Date.now()): (line: string) => void {
  return (line) => t.comment(`[${((Date.now() - start) / 1000).toFixed(1)} s] ${line}`);
}

/**
 * Deploys test/fixtures/labs/FIXTURE and starts the traffic; `t`'s teardown destroys the lab
 * (containers, networks, moto, its directory), also when a test failed or timed out, and a
 * deploy that fails removes what it made at once. A lab of the same name left by a killed run
 * is removed first: the name is this test file's own.
 */
export async function deployTestLab(t: Test, fixture: string): Promise<TestLab> {
  const loaded = await loadLabFile(new URL(fixture, FIXTURES).pathname);
  if (!loaded.ok) throw new Error(`${fixture}: ${JSON.stringify(loaded.issues)}`);
  const { plan } = loaded;
  await destroyLab(plan.lab, true);
  t.teardown(async () => {
    // The streams run as `docker exec` sessions in the hosts: ended first, as the demo does.
    await stopTraffic(plan);
    const removed = await destroyLab(plan.lab, true);
    t.comment(
      `lab ${plan.lab} destroyed: ${removed.containers.length} containers, ${removed.networks.length} networks`,
    );
  });
  const start = Date.now();
  let state: LabState;
  let fleet: Fleet;
  try {
    state = await deployLab(plan, progressTo(t, start));
    fleet = await loadLabFleet(state.fleetFile);
    await startTraffic(plan);
  } catch (err) {
    // Thrown at a file's top level, this ends it without its teardown: remove the lab here.
    await commentLogs(t, logContainers(plan), start);
    await destroyLab(plan.lab, true);
    throw err;
  }
  t.comment(`lab ${plan.lab} deployed in ${((Date.now() - start) / 1000).toFixed(1)} s`);
  const [connection] = plan.connections;
  if (connection === undefined) throw new Error(`${fixture}: the lab has no connection`);
  return {
    state,
    plan,
    fleet,
    connection: connection.name,
    pairOf: Object.fromEntries(plan.vpcs.map((v) => [v.name, v.pair.name])),
  };
}

/** VPC name to the appliance its routes point at ("split" or "none" when not one). */
export async function routeTargets(lab: TestLab): Promise<Record<string, string>> {
  const routes = await labRoutes(lab.state);
  return Object.fromEntries(
    lab.plan.vpcs.map((v) => {
      const targets = [...new Set(routes.filter((r) => r.vpc === v.name).map((r) => r.appliance))];
      return [
        v.name,
        targets.length === 1
          ? (targets[0] ?? "not an appliance")
          : targets.length === 0
            ? "none"
            : "split",
      ];
    }),
  );
}

/** The other member of the pair of the VPC `appliance` is in. */
export function partnerOf(lab: TestLab, appliance: string): string {
  const vpc = lab.plan.vpcs.find((v) => v.appliances.some((a) => a.name === appliance));
  const other = vpc?.appliances.find((a) => a.name !== appliance);
  if (other === undefined) throw new Error(`${appliance} is in no pair of lab ${lab.plan.lab}`);
  return other.name;
}

/** An appliance's tunnels as `swanpair tunnels` shows them: name to state and CARRIES. */
export async function tunnelsOf(
  lab: TestLab,
  appliance: string,
): Promise<Record<string, { state: string; carries: string; group?: unknown }>> {
  const a = lab.fleet.appliances.filter((x) => x.name === appliance);
  const [row] = tunnelsView(await askAgents(lab.fleet, a, (api) => api.status(), 3000)).appliances;
  if (row?.error !== undefined) throw new Error(`${appliance}: ${row.error}`);
  return Object.fromEntries(
    (row?.tunnels ?? []).map((x) => [
      x.name,
      { state: x.state, carries: x.carries ?? "unknown", group: (x as { group?: unknown }).group },
    ]),
  );
}

/** Every lab controller's /v1/status: the central one, or one per appliance. */
export async function controllerStatuses(lab: TestLab): Promise<ControllerStatus[]> {
  return Promise.all(
    controllerStatusUrls(lab.plan).map(async (url) => {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
      return (await r.json()) as ControllerStatus;
    }),
  );
}

/** The sides a controller decides: all of them centrally, its own pair's when co-located. */
function ownSides(s: ControllerStatus): ControllerStatus["sides"] {
  return s.self === null
    ? s.sides
    : s.sides.filter((x) => x.members.some((m) => m.name === s.self));
}

/** What keeps the lab from being steady now, or true. */
async function steadyNow(lab: TestLab): Promise<true | { not: string }> {
  const view = tunnelsView(
    await askAgents(lab.fleet, lab.fleet.appliances, (api) => api.status(), 3000),
  );
  const trouble = tunnelsTrouble(view);
  if (trouble.length > 0) return { not: trouble.join("; ") };
  for (const s of await controllerStatuses(lab)) {
    for (const side of ownSides(s)) {
      const where = `${s.self ?? "controller"}: ${side.pair}`;
      if (side.alarm) return { not: `${where} in alarm (${side.alarm.reason})` };
      if (side.active === null) return { not: `${where} has no owner` };
      if (side.drift.length > 0) return { not: `${where}: ${side.drift.length} route(s) drift` };
      const unwell = side.members.filter((m) => m.status !== "healthy");
      if (unwell.length > 0)
        return { not: `${where}: ${unwell.map((m) => `${m.name} ${m.status}`).join(", ")}` };
    }
  }
  const flowing = await trafficFlowing(lab.plan, 500);
  return flowing === true ? true : { not: `no traffic ${flowing.not}` };
}

/**
 * Undoes every fault (containers started or resumed, partitions lifted) and waits until the
 * lab is steady for a whole hold-down plus two ticks: every tunnel up, every controller
 * answering with each of its sides owned, without drift or alarm, every member healthy, and
 * traffic flowing both ways. Steady for a hold-down, so that a member that came back is
 * eligible again and the last move's side hold-down is over: the next case starts from the
 * state the lab was deployed in, but for where the routes point. Answers where they point.
 */
export async function steady(
  lab: TestLab,
  progress: (line: string) => void,
  timeoutMs = 60_000,
): Promise<Record<string, string>> {
  const { state, plan } = lab;
  const nodes = labNodes(plan);
  const containers = await inspectContainers(nodes.map((n) => n.container));
  for (const n of nodes) {
    const c = containers.find((x) => x.name === n.container);
    const cut = state.partitions.some((p) => p.split(":")[1]?.split("/").includes(n.name));
    if (c === undefined || c.paused || !c.running || cut) {
      for (const done of await healNode(state, n.name)) progress(`heal: ${done}`);
    }
  }
  const quietMs = plan.failover.holdDownMs + 2 * plan.failover.intervalMs;
  let since: number | undefined;
  await waitUntil(
    `the lab steady for ${quietMs} ms`,
    timeoutMs,
    async () => {
      const now = await steadyNow(lab).catch((err: Error) => ({ not: err.message }));
      if (now !== true) {
        since = undefined;
        return now;
      }
      since ??= Date.now();
      return Date.now() - since >= quietMs ? true : { not: "steady, for less than the quiet time" };
    },
    progress,
    300,
  );
  return routeTargets(lab);
}

export interface Failover {
  atMs: number;
  container: string;
  pair: string;
  from?: string;
  to: string;
  reason: string;
  epoch: number;
}

/** The containers the lab's controllers run in. */
export function controllerContainers(plan: LabPlan): string[] {
  return labControllers(plan).map((c) => c.container);
}

/** Every controller's log lines of kind KIND from `sinceMs` on, oldest first. */
export async function controllerEvents(
  lab: TestLab,
  sinceMs: number,
  kind: string,
): Promise<Array<{ atMs: number; container: string; fields: Record<string, unknown> }>> {
  const logs = await Promise.all(
    controllerContainers(lab.plan).map((c) => containerLog(c, sinceMs)),
  );
  return logs
    .flat()
    .filter((l) => (l.fields.kind ?? l.fields.msg) === kind)
    .sort((a, b) => a.atMs - b.atMs);
}

/** The failover decisions every controller logged from `sinceMs` on. */
export async function failoversSince(lab: TestLab, sinceMs: number): Promise<Failover[]> {
  return (await controllerEvents(lab, sinceMs, "failover")).map((l) => ({
    atMs: l.atMs,
    container: l.container,
    pair: String(l.fields.pair),
    ...(l.fields.from !== undefined && { from: String(l.fields.from) }),
    to: String(l.fields.to),
    reason: String(l.fields.reason),
    epoch: Number(l.fields.epoch),
  }));
}

/** Waits for a failover decision of PAIR logged from `sinceMs` on. */
export async function waitForFailover(
  lab: TestLab,
  pair: string,
  sinceMs: number,
  timeoutMs: number,
  progress: (line: string) => void,
): Promise<Failover> {
  let found: Failover | undefined;
  await waitUntil(
    `a failover of ${pair}`,
    timeoutMs,
    async () => {
      found = (await failoversSince(lab, sinceMs)).find((f) => f.pair === pair);
      return found ? true : { not: "none yet" };
    },
    progress,
    200,
  );
  if (found === undefined) throw new Error("unreachable");
  return found;
}

/** The fence tag of the side (connection, the pair of VPC) on that VPC's route table. */
export async function fenceOf(lab: TestLab, vpc: string): Promise<FenceValue | undefined> {
  const { plan, ids, moto } = lab.state;
  const table = ids.vpcs[vpc]?.routeTable;
  if (table === undefined) throw new Error(`no route table for VPC ${vpc}`);
  const ec2 = labEc2(plan.region, moto.endpoint);
  try {
    const answer = await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [table] }));
    const key = fenceKey(lab.connection, lab.pairOf[vpc] ?? "");
    const tag = answer.RouteTables?.[0]?.Tags?.find((x) => x.Key === key);
    return parseFence(tag?.Value);
  } finally {
    ec2.destroy();
  }
}

/**
 * Samples where the routes point every `everyMs` for `forMs`: the distinct targets per VPC in
 * the order they were seen. More than one after a change is a flap.
 */
export async function watchRoutes(
  lab: TestLab,
  forMs: number,
  everyMs = 300,
): Promise<Record<string, string[]>> {
  const seen: Record<string, string[]> = {};
  const end = Date.now() + forMs;
  while (Date.now() < end) {
    for (const [vpc, target] of Object.entries(await routeTargets(lab))) {
      const list = seen[vpc] ?? [];
      if (list.at(-1) !== target) list.push(target);
      seen[vpc] = list;
    }
    await sleep(everyMs);
  }
  return seen;
}

/**
 * The packets of one direction lost after its first outage from `fromMs` on ended, as
 * "seq N at +T ms" from `fromMs`: the evidence behind a lostAfterRecovery that is not 0.
 */
export function lostAfterRecoveryDetail(d: DirectionReport, fromMs: number, max = 10): string {
  const first = d.analysis.outages.find((o) => o.endMs === null || o.endMs >= fromMs);
  const lost = lostAfter(d.flow, first?.endMs ?? fromMs);
  const shown = lost
    .slice(0, max)
    .map((s) => `seq ${s.seq} at +${Math.round(s.sentMs - fromMs)} ms`);
  return `${lost.length} lost after recovery${lost.length > 0 ? `: ${shown.join(", ")}${lost.length > max ? ", ..." : ""}` : ""}`;
}

/** The fault run in the TAP output: each direction's gap and losses, the decisions, the timeline. */
export function reportRun(t: Test, run: FaultRun): void {
  t.comment(`fault: ${run.fault.detail}`);
  for (const d of run.directions) {
    t.comment(
      `${d.from} -> ${d.to}: gap ${d.gapMs} ms, ${d.outages} outage(s) from the fault on, ${d.lostAfterRecovery} lost after recovery (${d.lost} of ${d.sent} lost since the stream began)`,
    );
    const traffic = run.traffic.find((x) => x.from === d.from && x.to === d.to);
    if (d.lostAfterRecovery > 0 && traffic)
      t.comment(`  ${d.from} -> ${d.to}: ${lostAfterRecoveryDetail(traffic, run.fault.at)}`);
  }
  const f = run.moments.failovers;
  t.comment(
    `failovers: ${f.length === 0 ? "none" : f.map((x) => `${x.pair} ${x.from ?? "?"} -> ${x.to} (${x.reason}, epoch ${x.epoch}, +${x.atMs - run.fault.at} ms)`).join("; ")}`,
  );
  for (const e of run.moments.events) {
    t.comment(
      `  +${Math.round(e.atMs - run.fault.at)} ms ${e.name}${e.detail ? `: ${e.detail}` : ""}`,
    );
  }
}

/**
 * No direction lost a packet after its outage ended, and none had a second outage (a flap);
 * or, where a case knows why, at most `allowedLost` packets, each at most one outage more.
 */
export function recoveredCleanly(t: Test, run: FaultRun, allowedLost = 0): void {
  for (const d of run.directions) {
    t.ok(
      d.lostAfterRecovery <= allowedLost,
      `${d.from} -> ${d.to}: ${d.lostAfterRecovery} lost after recovery, at most ${allowedLost}`,
    );
    t.ok(
      d.outages <= 1 + allowedLost,
      `${d.from} -> ${d.to}: ${d.outages} outage(s), at most ${1 + allowedLost}`,
    );
  }
}

/** The tail of each container's log from `sinceMs` on, debug lines left out. */
export async function commentLogs(
  t: Test,
  containers: string[],
  sinceMs: number,
  lines = 30,
): Promise<void> {
  for (const c of containers) {
    const { stdout, stderr } = await dockerOutput([
      ...["logs", "--since", new Date(sinceMs - 2000).toISOString(), "--tail", "500", c],
    ]).catch((err: Error) => ({ stdout: "", stderr: err.message }));
    const tail = `${stdout}\n${stderr}`
      .split("\n")
      .filter((l) => l !== "" && !l.includes('"level":20'))
      .slice(-lines);
    t.comment(`--- ${c}: last ${tail.length} lines ---`);
    for (const l of tail) t.comment(l.length > 400 ? `${l.slice(0, 400)}…` : l);
  }
}

/**
 * Each appliance's carriers as its agent reports them, and the CHILD_SAs its charon installed
 * last (libipsec sends into the outbound SA installed last): what decides where traffic goes.
 */
export async function commentCarriers(t: Test, lab: TestLab): Promise<void> {
  for (const a of lab.plan.vpcs.flatMap((v) => v.appliances)) {
    const tunnels = await tunnelsOf(lab, a.name).catch((err: Error) => err.message);
    t.comment(`--- ${a.name}: tunnels ${JSON.stringify(tunnels)}`);
    const dir = lab.fleet.agents?.stateDir ?? "/var/lib/swanpair";
    const log = `${dir.replaceAll("{appliance}", a.name)}/charon.log`;
    const last = `grep 'CHILD_SA .* established' ${log} | grep -v -- '-probe{' | tail -6`;
    const { stdout } = await dockerOutput(["exec", a.container, "sh", "-c", last]).catch(
      (err: Error) => ({ stdout: err.message }),
    );
    for (const l of stdout.trim().split("\n")) t.comment(`  ${l}`);
  }
}

/** The containers whose logs tell what happened: controllers, appliances and routers. */
export function logContainers(plan: LabPlan): string[] {
  return [
    ...new Set([
      ...controllerContainers(plan),
      ...plan.vpcs.flatMap((v) => [...v.appliances.map((a) => a.container), v.router.container]),
    ]),
  ];
}

export interface CaseContext {
  progress: (line: string) => void;
  /** Where each VPC's routes pointed when the lab was steady, before the case. */
  routes: Record<string, string>;
}

/**
 * One case of the matrix as a subtest of `t`: it starts from a steady lab (steady()), and when
 * it fails or throws, the tail of the controllers', appliances' and routers' logs since it
 * began goes into the TAP output.
 */
export function labCase(
  t: Test,
  lab: TestLab,
  name: string,
  fn: (t: Test, c: CaseContext) => Promise<void>,
): Promise<unknown> {
  return t.test(name, async (t) => {
    const start = Date.now();
    const progress = progressTo(t, start);
    try {
      const routes = await steady(lab, progress);
      progress(`steady; routes: ${JSON.stringify(routes)}`);
      await fn(t, { progress, routes });
    } catch (err) {
      await commentLogs(t, logContainers(lab.plan), start);
      await commentCarriers(t, lab);
      throw err;
    }
    if (!t.passing()) {
      await commentLogs(t, logContainers(lab.plan), start);
      await commentCarriers(t, lab);
    }
    progress("case done");
  });
}
