/** Text for `swanpair status` and `swanpair plan`, in kubectl's manner: aligned columns, "-" for none. */

import type { EngineEvent } from "../decide/types.ts";
import type { PlannedWrite, SideView } from "./view.ts";

export function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => r[c]?.length ?? 0))) ?? [];
  return rows.map((r) =>
    r
      .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] ?? 0)))
      .join("   ")
      .trimEnd(),
  );
}

function lastFailover(s: SideView): string {
  const f = s.lastFailover;
  if (!f) return "-";
  const from = f.from ? `${f.from} → ` : "";
  return `${f.at} ${from}${f.to}${f.reason ? ` (${f.reason})` : ""}`;
}

export function formatStatus(sides: SideView[], problems: string[]): string {
  const lines = table([
    [
      "CONNECTION",
      "PAIR",
      "ACTIVE",
      "PREFERRED",
      "EPOCH",
      "ROUTES",
      "DRIFT",
      "ALARM",
      "LAST FAILOVER",
    ],
    ...sides.map((s) => [
      s.connection,
      s.pair,
      s.active ?? "-",
      s.preferred,
      s.fence ? String(s.fence.epoch) : "-",
      String(s.routes),
      String(s.drift.length),
      s.alarm ? s.alarm.reason : "-",
      lastFailover(s),
    ]),
  ]);
  lines.push(
    "",
    ...table([
      ["SIDE", "MEMBER", "STATUS", "AGENT", "TUNNEL", "PATH", "EC2", "SIGNALS"],
      ...sides.flatMap((s) =>
        s.members.map((m) => [
          `${s.connection}/${s.pair}`,
          m.name + (m.name === s.active ? "*" : ""),
          m.status,
          m.agent,
          m.tunnel,
          m.pathProbe,
          m.ec2,
          m.signals.join(",") || "-",
        ]),
      ),
    ]),
  );
  const drift = sides.flatMap((s) =>
    s.drift.map((d) => `  ${s.connection}/${s.pair}: ${d.routeTable} ${d.destination} → ${d.now}`),
  );
  if (drift.length > 0) lines.push("", "routes that drift from the decision:", ...drift);
  if (problems.length > 0) lines.push("", "could not read:", ...problems.map((p) => `  ${p}`));
  return lines.join("\n");
}

/** Why the plan wants each write, from the engine's events for that side. */
function reasonFor(w: PlannedWrite, events: EngineEvent[]): string {
  for (const e of events) {
    if (e.connection !== w.connection || e.pair !== w.pair) continue;
    if (e.kind === "failover") return `failover from ${e.from ?? "nobody"} (${e.reason})`;
    if (e.kind === "drift-healed") return e.routes === 0 ? "fence tag missing" : "heal drift";
  }
  return "write";
}

export function formatPlan(writes: PlannedWrite[], events: EngineEvent[]): string {
  const lines: string[] = [];
  for (const w of writes) {
    lines.push(
      `${w.connection}/${w.pair}: ${reasonFor(w, events)}: ${w.routes.length} route(s) to ${w.target}, fence epoch ${w.epoch} on ${w.routeTables.length} table(s)`,
    );
    for (const r of w.routes) lines.push(`  ${r.routeTable}   ${r.destination}`);
  }
  for (const e of events) {
    if (e.kind === "alarm-no-healthy-target") {
      const blocked = Object.entries(e.blocked).map(([m, b]) => `${m}: ${b}`);
      lines.push(
        `${e.connection}/${e.pair}: no healthy target (${e.reason})${blocked.length ? `; ${blocked.join(", ")}` : ""}`,
      );
    }
  }
  if (writes.length === 0) lines.push("no changes: every managed route matches its decision");
  return lines.join("\n");
}
