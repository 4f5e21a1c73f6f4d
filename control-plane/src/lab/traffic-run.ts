import { docker } from "./docker.ts";
import type { LabHost, LabPlan } from "./plan.ts";
import { analyzeFlow, type Flow, type FlowAnalysis } from "./traffic/analyze.ts";
import { flows, parseStreamRecords, type StreamRecords } from "./traffic/records.ts";

/**
 * The lab's traffic: for each connection, a UDP sequence stream both ways between the first
 * workload host of each of its VPCs (`swanpair lab stream` in each host's container), and
 * reading its records back for analysis.
 */

export const STREAM_DIR = "/var/lib/swanpair-lab";

export interface TrafficPair {
  connection: string;
  port: number;
  ends: [LabHost, LabHost];
}

export function trafficPairs(plan: LabPlan): TrafficPair[] {
  return plan.connections.map((c, i) => {
    const hostOf = (vpc: string) => {
      const h = plan.vpcs.find((v) => v.name === vpc)?.hosts[0];
      if (h === undefined) throw new Error(`VPC ${vpc} has no host for traffic`);
      return h;
    };
    return {
      connection: c.name,
      port: plan.traffic.port + i,
      ends: [hostOf(c.between[0]), hostOf(c.between[1])],
    };
  });
}

const recordFile = (p: TrafficPair) => `${STREAM_DIR}/${p.connection}.jsonl`;

export async function startTraffic(
  plan: LabPlan,
  ratePps = plan.traffic.ratePps,
): Promise<TrafficPair[]> {
  const pairs = trafficPairs(plan);
  for (const p of pairs) {
    for (const [self, peer] of [p.ends, [p.ends[1], p.ends[0]]] as const) {
      await docker(["exec", self.container, "mkdir", "-p", STREAM_DIR]);
      await docker([
        ...["exec", "-d", self.container, "swanpair", "lab", "stream", "--bind", self.address],
        ...["--port", String(p.port), "--peer", peer.address, "--rate", String(ratePps)],
        ...["--name", self.name, "--out", recordFile(p)],
      ]);
    }
  }
  return pairs;
}

/** Every direction has delivered a packet sent in the last `withinMs`, or which have not. */
export async function trafficFlowing(
  plan: LabPlan,
  withinMs: number,
): Promise<true | { not: string }> {
  const now = Date.now();
  const stalled = (await readTraffic(plan)).filter(
    (d) => !d.flow.arrivals.some((a) => a.sentMs > now - withinMs),
  );
  return stalled.length === 0
    ? true
    : { not: stalled.map((d) => `${d.from} -> ${d.to}`).join(", ") };
}

/** SIGTERM to every stream in the lab's hosts; they flush their records and exit. */
export async function stopTraffic(plan: LabPlan): Promise<void> {
  const script = `for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null | grep -q 'lab stream' && kill -TERM \${p#/proc/}; done; true`;
  for (const h of plan.vpcs.flatMap((v) => v.hosts)) {
    await docker(["exec", h.container, "sh", "-c", script]).catch(() => undefined);
  }
}

export interface DirectionReport {
  connection: string;
  from: string;
  to: string;
  flow: Flow;
  analysis: FlowAnalysis;
}

async function records(host: LabHost, p: TrafficPair): Promise<StreamRecords> {
  const text = await docker(["exec", host.container, "cat", recordFile(p)]);
  return parseStreamRecords(text, `${host.name}:${recordFile(p)}`);
}

/** Both directions of every pair, from the records as they are now (the streams may still run). */
export async function readTraffic(plan: LabPlan): Promise<DirectionReport[]> {
  const out: DirectionReport[] = [];
  for (const p of trafficPairs(plan)) {
    const [a, b] = p.ends;
    const [ra, rb] = await Promise.all([records(a, p), records(b, p)]);
    for (const [from, to, sender, receiver] of [
      [a, b, ra, rb],
      [b, a, rb, ra],
    ] as const) {
      const flow = flows(sender, receiver).at(-1);
      if (flow === undefined) continue;
      out.push({
        connection: p.connection,
        from: from.name,
        to: to.name,
        flow,
        analysis: analyzeFlow(flow),
      });
    }
  }
  return out;
}
