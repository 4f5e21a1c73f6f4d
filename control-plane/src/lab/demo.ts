import { writeFile } from "node:fs/promises";
import { deployLab } from "./deploy.ts";
import { destroyLab } from "./destroy.ts";
import { type FaultRun, runFault } from "./fault-run.ts";
import { labRoutes } from "./inspect.ts";
import type { LabPlan } from "./plan.ts";
import { arrivalBins } from "./traffic/analyze.ts";
import { trafficSvg } from "./traffic/plot-svg.ts";
import { formatTimeline, timelineJson } from "./traffic/timeline.ts";
import { type DirectionReport, readTraffic, startTraffic, stopTraffic } from "./traffic-run.ts";

/**
 * `swanpair lab demo`: the failover the project exists for, from nothing and back to nothing.
 * Deploy, traffic both ways, kill the appliance VPC a's routes point at, wait for traffic to
 * come back, then report the timeline and plot the packets.
 */

export interface DemoOptions {
  svg: string;
  keep: boolean;
  progress: (line: string) => void;
}

export interface DemoResult {
  lab: string;
  killed: string;
  deploySeconds: number;
  totalSeconds: number;
  timeline: ReturnType<typeof timelineJson>;
  directions: FaultRun["directions"];
  failovers: FaultRun["moments"]["failovers"];
  svg: string;
}

const BIN_MS = 100;

export async function runDemo(plan: LabPlan, o: DemoOptions): Promise<DemoResult> {
  const t0 = Date.now();
  const state = await deployLab(plan, o.progress);
  const deploySeconds = (Date.now() - t0) / 1000;
  try {
    const first = plan.vpcs[0];
    if (first === undefined) throw new Error("the lab has no VPC");
    const active = (await labRoutes(state)).find((r) => r.vpc === first.name)?.appliance;
    if (active === undefined)
      throw new Error(`no route of VPC ${first.name} points at an appliance`);
    await startTraffic(plan);
    o.progress(`traffic: ${plan.traffic.ratePps} packets/s each way between the VPCs' hosts`);
    const run = await runFault(state, { node: active, mode: "kill", progress: o.progress });
    await stopTraffic(plan);
    const svg = plotRun(
      await readTraffic(plan),
      run,
      `swanpair lab ${plan.lab}: ${active} killed (docker kill), packets per ${BIN_MS} ms`,
    );
    await writeFile(o.svg, svg);
    return {
      lab: plan.lab,
      killed: active,
      deploySeconds,
      totalSeconds: (Date.now() - t0) / 1000,
      timeline: timelineJson(run.moments.events, run.fault.at),
      directions: run.directions,
      failovers: run.moments.failovers,
      svg: o.svg,
    };
  } finally {
    if (!o.keep) await destroyLab(plan.lab, false);
  }
}

/** Packets per 100 ms each way, the failover's moments marked. */
export function plotRun(traffic: DirectionReport[], run: FaultRun, title: string): string {
  const startMs = Math.min(...traffic.map((d) => d.flow.startMs));
  const endMs = Math.max(...traffic.map((d) => d.flow.sends.at(-1)?.sentMs ?? startMs));
  return trafficSvg({
    title,
    binMs: BIN_MS,
    startMs,
    series: traffic.map((d) => ({
      label: `${d.from} -> ${d.to}`,
      bins: arrivalBins(d.flow, { startMs, endMs, binMs: BIN_MS }),
    })),
    marks: run.moments.events.map((e) => ({ atMs: e.atMs, label: e.name })),
  });
}

export function formatDemo(r: DemoResult): string {
  const rows = r.directions.map(
    (d) =>
      `  ${d.from} -> ${d.to}: traffic stopped for ${d.gapMs} ms (${d.lost} of ${d.sent} packets lost, ${d.lostAfterRecovery} after recovery)`,
  );
  return [
    `lab ${r.lab}: killed ${r.killed}, the appliance VPC routes pointed at`,
    "",
    formatTimeline(
      r.timeline.events.map((e) => ({
        name: e.name,
        atMs: e.atMs,
        ...(e.detail !== undefined && { detail: e.detail }),
      })),
      r.timeline.originMs,
    ),
    "",
    ...rows,
    `  route changes after the fault: ${r.failovers.length}`,
    "",
    `plot: ${r.svg}; lab up in ${r.deploySeconds.toFixed(1)} s, demo took ${r.totalSeconds.toFixed(1)} s`,
  ].join("\n");
}
