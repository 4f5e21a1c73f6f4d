import { labControllers } from "./controllers.ts";
import { type FaultMode, type FaultResult, failNode } from "./faults.ts";
import { containerLog } from "./lab-logs.ts";
import type { LabState } from "./state.ts";
import { type FailoverMoments, failoverMoments } from "./timeline-events.ts";
import { lostAfter } from "./traffic/analyze.ts";
import { type DirectionReport, readTraffic, trafficFlowing } from "./traffic-run.ts";
import { waitUntil } from "./wait.ts";

/**
 * One fault under traffic, measured: the streams must run already. Traffic flows for a while,
 * the fault is injected, the lab waits until packets pass both ways again, lets it settle,
 * and reads back what happened: each direction's gap and losses, and the failover's moments.
 */

export interface FaultRunOptions {
  node: string;
  mode: FaultMode;
  from?: string;
  baselineMs?: number;
  settleMs?: number;
  timeoutMs?: number;
  progress: (line: string) => void;
}

export interface DirectionResult {
  connection: string;
  from: string;
  to: string;
  sent: number;
  received: number;
  lost: number;
  /** The outage the fault caused (the first that was still on at the fault or began after it), in ms. */
  gapMs: number;
  /** Outages from the fault on: more than one is a flap. */
  outages: number;
  /** Packets lost after that outage ended. */
  lostAfterRecovery: number;
}

export interface FaultRun {
  fault: FaultResult;
  moments: FailoverMoments;
  directions: DirectionResult[];
  traffic: DirectionReport[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function directionResult(d: DirectionReport, faultAtMs: number): DirectionResult {
  const since = d.analysis.outages.filter((o) => o.endMs === null || o.endMs >= faultAtMs);
  const first = since[0];
  const recovered = first?.endMs ?? faultAtMs;
  return {
    connection: d.connection,
    from: d.from,
    to: d.to,
    sent: d.analysis.sent,
    received: d.analysis.received,
    lost: d.analysis.lost,
    gapMs: Math.round(first?.durationMs ?? 0),
    outages: since.length,
    lostAfterRecovery: lostAfter(d.flow, recovered).length,
  };
}

export async function runFault(state: LabState, o: FaultRunOptions): Promise<FaultRun> {
  const { plan } = state;
  await waitUntil("traffic flowing both ways", 30_000, () => trafficFlowing(plan, 500), o.progress);
  await sleep(o.baselineMs ?? 2000);
  const fault = await failNode(state, o.node, o.mode, o.from);
  o.progress(`fault: ${fault.detail}`);
  await sleep(500);
  await waitUntil(
    "traffic flowing again both ways",
    o.timeoutMs ?? 60_000,
    () => trafficFlowing(plan, 300),
    o.progress,
    200,
  );
  await sleep(o.settleMs ?? 3000);
  const traffic = await readTraffic(plan);
  const controllers = labControllers(plan).map((c) => c.container);
  const logs = async (containers: string[]) =>
    (await Promise.all(containers.map((c) => containerLog(c, fault.at))))
      .flat()
      .sort((a, b) => a.atMs - b.atMs);
  const moments = failoverMoments(
    { name: "fault", atMs: fault.at, detail: fault.detail },
    await logs(controllers),
    await logs(plan.vpcs.map((v) => v.router.container)),
    traffic,
  );
  return { fault, moments, directions: traffic.map((d) => directionResult(d, fault.at)), traffic };
}
