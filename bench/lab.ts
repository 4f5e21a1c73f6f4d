/**
 * Failover lab benchmark (npm run bench:lab): for each failure kind, under traffic both ways
 * at 50 packets a second, how long until the controller detects it, decides, writes the
 * route, and how long traffic stops, as median and spread of RUNS runs (BENCH_LAB_RUNS,
 * default 5), with the lab's timers (bench/labs/fast.yml: intervalMs 200, fall 2) and the
 * fleet file's defaults (bench/labs/defaults.yml: 500, 3). Writes bench/results/lab.json, an
 * SVG of the first kill of each lab, and the lab section of docs/benchmarks.md. Numbers, not
 * pass/fail: the e2e tests check behaviour.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { resolve } from "node:path";
import { plotRun } from "../control-plane/src/lab/demo.ts";
import { deployLab, loadLabFleet } from "../control-plane/src/lab/deploy.ts";
import { destroyLab } from "../control-plane/src/lab/destroy.ts";
import { type FaultRun, runFault } from "../control-plane/src/lab/fault-run.ts";
import { type FaultMode, failNode, healNode } from "../control-plane/src/lab/faults.ts";
import { labRoutes } from "../control-plane/src/lab/inspect.ts";
import type { LabPlan } from "../control-plane/src/lab/plan.ts";
import type { LabState } from "../control-plane/src/lab/state.ts";
import { loadLabFile } from "../control-plane/src/lab/topology/load.ts";
import { readTraffic, startTraffic } from "../control-plane/src/lab/traffic-run.ts";
import { waitUntil } from "../control-plane/src/lab/wait.ts";
import { askAgents } from "../control-plane/src/tunnels/ask-agents.ts";
import { tunnelsTrouble, tunnelsView } from "../control-plane/src/tunnels/view.ts";
import { writeBenchmarksDoc } from "./report.ts";

const RESULTS = resolve(import.meta.dirname, "results");
const RUNS = Number(process.env.BENCH_LAB_RUNS ?? 5);
const LABS = ["fast.yml", "defaults.yml"];

interface Kind {
  kind: string;
  /** Which VPC's active appliance the fault hits. */
  vpc: 0 | 1;
  mode: FaultMode;
  /** partition: cut from the partner rather than the controller. */
  fromPartner?: boolean;
  /** EC2 throttled for the controller during the fault. */
  throttled?: boolean;
  /** Whether the routes should move: a failover in a kind that should not is a false one. */
  moves: boolean;
}

const KINDS: Kind[] = [
  { kind: "kill", vpc: 0, mode: "kill", moves: true },
  { kind: "kill the far side's", vpc: 1, mode: "kill", moves: true },
  { kind: "pause", vpc: 0, mode: "pause", moves: true },
  { kind: "kill, EC2 throttled", vpc: 0, mode: "kill", throttled: true, moves: true },
  { kind: "charon killed", vpc: 0, mode: "charon", moves: false },
  { kind: "partition from the controller", vpc: 0, mode: "partition", moves: false },
  {
    kind: "partition between the members",
    vpc: 0,
    mode: "partition",
    fromPartner: true,
    moves: false,
  },
];

export interface LabRunResult {
  detectionMs: number | null;
  decisionMs: number | null;
  routeChangeMs: number | null;
  gapMs: number;
  failovers: number;
  lostAfterRecovery: number;
}

interface Stat {
  median: number | null;
  min: number | null;
  max: number | null;
}

export interface LabKindResult {
  kind: string;
  moves: boolean;
  runs: LabRunResult[];
  detectionMs: Stat;
  routeChangeMs: Stat;
  gapMs: Stat;
  falseFailovers: number;
}

export interface LabBenchResults {
  at: string;
  machine: { cpus: number; node: string };
  runsPerKind: number;
  labs: Array<{
    lab: string;
    failover: LabPlan["failover"];
    deploySeconds: number;
    kinds: LabKindResult[];
  }>;
}

function stat(values: Array<number | null>): Stat {
  const v = values.filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (v.length === 0) return { median: null, min: null, max: null };
  const mid = Math.floor(v.length / 2);
  const median =
    v.length % 2 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
  return {
    median: Math.round(median),
    min: Math.round(v[0] as number),
    max: Math.round(v.at(-1) as number),
  };
}

const offset = (run: FaultRun, name: string) => {
  const e = run.moments.events.find((x) => x.name === name);
  return e === undefined ? null : Math.round(e.atMs - run.fault.at);
};

const progress = (line: string) => process.stderr.write(`bench:lab: ${line}\n`);

async function steady(state: LabState, moved: boolean): Promise<void> {
  const fleet = await loadLabFleet(state.fleetFile);
  await waitUntil(
    "every tunnel up again",
    120_000,
    async () => {
      const trouble = tunnelsTrouble(
        tunnelsView(await askAgents(fleet, fleet.appliances, (a) => a.status(), 2000)),
      );
      return trouble.length === 0 ? true : { not: trouble.slice(0, 2).join("; ") };
    },
    () => undefined,
  );
  // Long enough for the controller to see every member healthy again (rise ticks) and, after
  // a move, for its hold-down to pass, so that no run starts inside the last one's.
  const f = state.plan.failover;
  await new Promise((r) => setTimeout(r, (f.rise + 2) * f.intervalMs + (moved ? f.holdDownMs : 0)));
}

async function activeOf(state: LabState, vpc: 0 | 1): Promise<{ node: string; partner: string }> {
  const v = state.plan.vpcs[vpc];
  const node = (await labRoutes(state)).find((r) => r.vpc === v?.name)?.appliance;
  const partner = v?.appliances.find((a) => a.name !== node)?.name;
  if (node === undefined || partner === undefined)
    throw new Error(`no active appliance in ${v?.name}`);
  return { node, partner };
}

async function benchLab(file: string): Promise<LabBenchResults["labs"][number]> {
  const loaded = await loadLabFile(resolve(import.meta.dirname, "labs", file));
  if (!loaded.ok) throw new Error(`${file}: ${JSON.stringify(loaded.issues)}`);
  const plan = loaded.plan;
  await destroyLab(plan.lab, true);
  const t0 = Date.now();
  const state = await deployLab(plan, progress);
  const deploySeconds = (Date.now() - t0) / 1000;
  const controller = plan.controller.node.name;
  try {
    await startTraffic(plan);
    const kinds: LabKindResult[] = [];
    for (const k of KINDS) {
      const runs: LabRunResult[] = [];
      for (let i = 0; i < RUNS; i++) {
        const { node, partner } = await activeOf(state, k.vpc);
        if (k.throttled) await failNode(state, controller, "throttle-ec2");
        const run = await runFault(state, {
          node,
          mode: k.mode,
          ...(k.fromPartner && { from: partner }),
          baselineMs: 1000,
          settleMs: 2000,
          progress,
        });
        if (i === 0 && k.kind === "kill") {
          await writeFile(
            resolve(RESULTS, `lab-${plan.lab}-kill.svg`),
            plotRun(await readTraffic(plan), run, `bench:lab ${plan.lab}: ${node} killed`),
          );
        }
        runs.push({
          detectionMs: offset(run, "detection"),
          decisionMs: offset(run, "decision"),
          routeChangeMs: offset(run, "route change"),
          gapMs: Math.max(0, ...run.directions.map((d) => d.gapMs)),
          failovers: run.moments.failovers.length,
          lostAfterRecovery: run.directions.reduce((n, d) => n + d.lostAfterRecovery, 0),
        });
        progress(
          `${plan.lab} ${k.kind} #${i + 1}: gap ${runs.at(-1)?.gapMs} ms, failovers ${runs.at(-1)?.failovers}`,
        );
        await healNode(state, node);
        if (k.throttled) await healNode(state, controller);
        await steady(state, run.moments.failovers.length > 0);
      }
      kinds.push({
        kind: k.kind,
        moves: k.moves,
        runs,
        detectionMs: stat(runs.map((r) => r.detectionMs)),
        routeChangeMs: stat(runs.map((r) => r.routeChangeMs)),
        gapMs: stat(runs.map((r) => r.gapMs)),
        falseFailovers: k.moves ? 0 : runs.reduce((n, r) => n + r.failovers, 0),
      });
    }
    return { lab: plan.lab, failover: plan.failover, deploySeconds, kinds };
  } finally {
    await destroyLab(plan.lab, true);
  }
}

if (import.meta.main) {
  await mkdir(RESULTS, { recursive: true });
  const labs = [];
  for (const file of LABS) labs.push(await benchLab(file));
  const results: LabBenchResults = {
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    runsPerKind: RUNS,
    labs,
  };
  await writeFile(resolve(RESULTS, "lab.json"), `${JSON.stringify(results, null, 2)}\n`);
  await writeBenchmarksDoc();
  process.stdout.write(`${resolve(RESULTS, "lab.json")}\n`);
}
