import { formatAge, formatLoss, formatRtt } from "../../../common/agent-api/format.ts";
import type {
  AgentStatus,
  PathStatus,
  TunnelState,
  TunnelStatus,
} from "../../../common/agent-api/status.ts";

export interface FormatOptions {
  /** Reference time for the SINCE column; passed in so the output is a pure function of the inputs. */
  now: Date;
  /** ANSI colours for states; the caller enables them only when stdout is a TTY. */
  color?: boolean;
}

const ANSI = { green: "\x1b[32m", yellow: "\x1b[33m", red: "\x1b[31m", reset: "\x1b[0m" };
type Colour = keyof Omit<typeof ANSI, "reset">;

const STATE_COLOUR: Record<TunnelState | PathStatus["state"], Colour> = {
  up: "green",
  connecting: "yellow",
  unknown: "yellow",
  down: "red",
};

interface Column<T> {
  title: string;
  value(row: T, now: Date): string;
  colour?(row: T): Colour;
}

const COLUMNS: Column<TunnelStatus>[] = [
  { title: "NAME", value: (t) => t.name },
  { title: "STATE", value: (t) => t.state, colour: (t) => STATE_COLOUR[t.state] },
  { title: "REMOTE", value: (t) => t.remoteAddress },
  { title: "IKE", value: (t) => t.ike?.state ?? "-" },
  { title: "CHILD", value: (t) => t.child?.state ?? "-" },
  { title: "CARRIER", value: (t) => carrier(t) },
  { title: "RTT", value: (t) => (t.probe.state === "disabled" ? "-" : formatRtt(t.probe.rttMs)) },
  {
    title: "LOSS",
    value: (t) => (t.probe.state === "disabled" ? "-" : formatLoss(t.probe.loss)),
  },
  { title: "SINCE", value: (t, now) => formatAge(t.since, now) },
  { title: "REASON", value: (t) => t.reason },
];

/**
 * Which member of the tunnel's carrier group carries, "-" for a tunnel alone (or none carrying);
 * "b2 -> b1" while the agent moves the traffic to the one it wants.
 */
function carrier({ group }: TunnelStatus): string {
  if (!group) return "-";
  const now = group.carrier ?? "-";
  return group.wanted === null || group.wanted === group.carrier
    ? now
    : `${now} -> ${group.wanted}`;
}

const PATH_COLUMNS: Column<PathStatus>[] = [
  { title: "PATH", value: (p) => p.name },
  { title: "STATE", value: (p) => p.state, colour: (p) => STATE_COLOUR[p.state] },
  { title: "TARGET", value: (p) => p.target },
  { title: "RTT", value: (p) => formatRtt(p.rttMs) },
  { title: "LOSS", value: (p) => formatLoss(p.loss) },
  { title: "SENT", value: (p) => String(p.sent) },
  { title: "RECEIVED", value: (p) => String(p.received) },
  { title: "SINCE", value: (p, now) => formatAge(p.since, now) },
];

/**
 * `swanpair-agent status`: one header line about the agent, then one row per tunnel, then,
 * when paths are configured, a blank line and one row per path.
 */
export function formatStatus(status: AgentStatus, options: FormatOptions): string {
  const paint = (text: string, colour: Colour | undefined): string =>
    options.color && colour ? `${ANSI[colour]}${text}${ANSI.reset}` : text;

  const { charon, config } = status;
  const charonColour: Colour = charon.state === "running" ? "green" : "red";
  const lines = [
    [
      `appliance ${status.appliance}`,
      `charon${charon.version ? ` ${charon.version}` : ""} ${paint(charon.state, charonColour)}` +
        ` (pid ${charon.pid ?? "-"}, restarts ${charon.restarts})`,
      `config generation ${config.generation}`,
      `datapath ${status.datapath}`,
    ].join(", "),
  ];
  const exit = charon.lastExit;
  if (exit && charon.state !== "running" && charon.state !== "starting") {
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    const after = `${(exit.ranMs / 1000).toFixed(1)} s`;
    lines.push(`charon exited (${how}) after ${after}: ${exit.reason ?? "it wrote nothing"}`);
  }
  if (config.lastError) lines.push(`last config error: ${config.lastError}`);
  if (status.tunnels.length === 0) lines.push("No tunnels configured.");
  else lines.push(...table(COLUMNS, status.tunnels, options.now, paint));
  // An agent older than paths sends none; its output stays as it was.
  const paths = status.paths ?? [];
  if (paths.length > 0) lines.push("", ...table(PATH_COLUMNS, paths, options.now, paint));
  return lines.join("\n");
}

/** A header and one aligned row per item, columns three spaces apart. */
function table<T>(
  columns: Column<T>[],
  rows: readonly T[],
  now: Date,
  paint: (text: string, colour: Colour | undefined) => string,
): string[] {
  const cells = rows.map((r) => columns.map((c) => c.value(r, now)));
  const widths = columns.map((c, i) =>
    Math.max(c.title.length, ...cells.map((r) => r[i]?.length ?? 0)),
  );
  // Pad before painting: escape codes have length but no width. The last column is not padded.
  const line = (texts: string[], colours: (Colour | undefined)[]): string =>
    texts
      .map((text, i) =>
        paint(i < texts.length - 1 ? text.padEnd(widths[i] ?? 0) : text, colours[i]),
      )
      .join("   ");
  return [
    line(
      columns.map((c) => c.title),
      [],
    ),
    ...rows.map((r, i) =>
      line(
        cells[i] ?? [],
        columns.map((c) => c.colour?.(r)),
      ),
    ),
  ];
}
