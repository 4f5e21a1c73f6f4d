import { formatAge, formatLoss, formatRtt } from "../../../common/agent-api/format.ts";
import type { TunnelState } from "../../../common/agent-api/status.ts";
import { table } from "../controller/format.ts";
import type { TunnelsView } from "./view.ts";

/** Text for `swanpair tunnels` and `swanpair agents reload`: kubectl's aligned columns, "-" for none. */

const ANSI = { green: "\x1b[32m", yellow: "\x1b[33m", red: "\x1b[31m", reset: "\x1b[0m" };
export type Colour = keyof Omit<typeof ANSI, "reset">;

/**
 * A row of cells, or an appliance with one note instead (unreachable, rejected...), which runs
 * from the second column to the end of the line rather than widening one column for all.
 */
export type Row =
  | { cells: string[]; colour?: Colour }
  | { appliance: string; note: string; colour?: Colour };

/**
 * Lays out `rows` under `header`, the first column being the appliance. With `color`, a row's
 * colour paints its cell in the column titled `painted`, or its note.
 */
export function noteTable(
  header: string[],
  rows: Row[],
  { painted, color }: { painted: string; color: boolean },
): string {
  const lines = table([header, ...rows.map((r) => ("cells" in r ? r.cells : [r.appliance]))]);
  const [head = ""] = lines;
  // Columns start where the header's titles do; escape codes go in after the padding.
  let from = 0;
  const starts = header.map((title) => {
    const start = head.indexOf(title, from);
    from = start + title.length;
    return start;
  });
  const column = header.indexOf(painted);
  const at = starts[column] ?? 0;
  const paint = (text: string, colour: Colour | undefined) =>
    color && colour ? `${ANSI[colour]}${text}${ANSI.reset}` : text;
  const body = rows.map((r, i) => {
    const line = lines[i + 1] ?? "";
    if (!("cells" in r)) return `${line.padEnd(starts[1] ?? 0)}${paint(r.note, r.colour)}`;
    const cell = r.cells[column] ?? "";
    return `${line.slice(0, at)}${paint(cell, r.colour)}${line.slice(at + cell.length)}`;
  });
  return [head, ...body].join("\n");
}

const STATE_COLOUR: Record<TunnelState, Colour> = {
  up: "green",
  connecting: "yellow",
  down: "red",
};

const TUNNEL_HEADER = [
  "APPLIANCE",
  "TUNNEL",
  "FAR END",
  "STATE",
  "IKE",
  "CHILD",
  "CARRIES",
  "RTT",
  "LOSS",
  "SINCE",
  "REASON",
];

export function formatTunnels(
  view: TunnelsView,
  { now, color }: { now: Date; color: boolean },
): string {
  const rows = view.appliances.flatMap((a): Row[] => {
    if (a.error !== undefined) {
      const note = `${a.reachable ? "error" : "unreachable"}: ${a.error}`;
      return [{ appliance: a.name, note, colour: "red" }];
    }
    if (a.tunnels.length === 0) return [{ appliance: a.name, note: "no tunnels configured" }];
    return a.tunnels.map((t) => {
      const probed = t.probe.state !== "disabled";
      return {
        colour: STATE_COLOUR[t.state],
        cells: [
          a.name,
          t.name,
          t.remoteAddress,
          t.state,
          t.ike?.state ?? "-",
          t.child?.state ?? "-",
          t.carries ?? "-",
          probed ? formatRtt(t.probe.rttMs) : "-",
          probed ? formatLoss(t.probe.loss) : "-",
          formatAge(t.since, now),
          t.reason,
        ],
      };
    });
  });
  return noteTable(TUNNEL_HEADER, rows, { painted: "STATE", color });
}
