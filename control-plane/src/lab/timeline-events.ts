import type { LogLine } from "./lab-logs.ts";
import { firstThroughAfter } from "./traffic/analyze.ts";
import type { TimelineEvent } from "./traffic/timeline.ts";
import type { DirectionReport } from "./traffic-run.ts";

/**
 * A failover's moments, from the controller's and routers' log lines and the traffic records.
 * Pure: the first of each kind after the fault.
 */

export interface FailoverMoments {
  fault: TimelineEvent;
  events: TimelineEvent[];
  /** The controller's failover decisions after the fault, all of them: flapping shows here. */
  failovers: Array<{
    atMs: number;
    pair: string;
    from?: string;
    to: string;
    reason: string;
    epoch: number;
  }>;
}

const kind = (l: LogLine) => l.fields.kind ?? l.fields.msg;

export function failoverMoments(
  fault: TimelineEvent,
  controller: LogLine[],
  routers: LogLine[],
  traffic: DirectionReport[],
): FailoverMoments {
  const after = (lines: LogLine[]) => lines.filter((l) => l.atMs >= fault.atMs);
  const events: TimelineEvent[] = [fault];
  const detection = after(controller).find(
    (l) => kind(l) === "member-health-changed" && l.fields.to !== "healthy",
  );
  if (detection) {
    const f = detection.fields;
    events.push({
      name: "detection",
      atMs: detection.atMs,
      detail: `${f.member} ${f.from} -> ${f.to} (${(f.signals as string[] | undefined)?.join(", ") ?? ""})`,
    });
  }
  const failovers = after(controller)
    .filter((l) => kind(l) === "failover")
    .map((l) => ({
      atMs: l.atMs,
      pair: String(l.fields.pair),
      ...(l.fields.from !== undefined && { from: String(l.fields.from) }),
      to: String(l.fields.to),
      reason: String(l.fields.reason),
      epoch: Number(l.fields.epoch),
    }));
  const decision = failovers[0];
  if (decision) {
    events.push({
      name: "decision",
      atMs: decision.atMs,
      detail: `${decision.pair}: ${decision.from ?? "?"} -> ${decision.to} (${decision.reason}, epoch ${decision.epoch})`,
    });
  }
  const written = after(controller).find((l) => l.fields.msg === "routes written");
  if (written) {
    events.push({
      name: "route change",
      atMs: written.atMs,
      detail: `EC2 ReplaceRoute -> ${written.fields.target}`,
    });
  }
  const applied = after(routers).find((l) => l.fields.msg === "routes applied");
  if (applied) {
    events.push({
      name: "VPC router follows",
      atMs: applied.atMs,
      detail: `${applied.container}: ${(applied.fields.added as string[] | undefined)?.join(", ") ?? ""}`,
    });
  }
  for (const d of traffic) {
    const outage = d.analysis.outages.find((o) => o.endMs === null || o.endMs >= fault.atMs);
    const first = outage ? firstThroughAfter(d.flow, outage.startMs) : null;
    if (outage && first) {
      events.push({
        name: "first packet through",
        atMs: first.recvMs,
        detail: `${d.from} -> ${d.to}, after a gap of ${outage.durationMs === null ? "?" : Math.round(outage.durationMs)} ms (${outage.lost} lost)`,
      });
    }
  }
  return { fault, events, failovers };
}
