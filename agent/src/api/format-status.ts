import type { AgentStatus, TunnelState, TunnelStatus } from "../status.ts";

export interface FormatOptions {
  /** Reference time for the SINCE column; passed in so the output is a pure function of the inputs. */
  now: Date;
  /** ANSI colours for states; the caller enables them only when stdout is a TTY. */
  color?: boolean;
}

const ANSI = { green: "\x1b[32m", yellow: "\x1b[33m", red: "\x1b[31m", reset: "\x1b[0m" };
type Colour = keyof Omit<typeof ANSI, "reset">;

const STATE_COLOUR: Record<TunnelState, Colour> = {
  up: "green",
  connecting: "yellow",
  down: "red",
};

interface Column {
  title: string;
  value(t: TunnelStatus, now: Date): string;
  colour?(t: TunnelStatus): Colour;
}

const COLUMNS: Column[] = [
  { title: "NAME", value: (t) => t.name },
  { title: "STATE", value: (t) => t.state, colour: (t) => STATE_COLOUR[t.state] },
  { title: "REMOTE", value: (t) => t.remoteAddress },
  { title: "IKE", value: (t) => t.ike?.state ?? "-" },
  { title: "CHILD", value: (t) => t.child?.state ?? "-" },
  { title: "RTT", value: (t) => (t.probe.state === "disabled" ? "-" : formatRtt(t.probe.rttMs)) },
  {
    title: "LOSS",
    value: (t) => (t.probe.state === "disabled" ? "-" : `${Math.round(t.probe.loss * 100)}%`),
  },
  { title: "SINCE", value: (t, now) => formatAge(t.since, now) },
  { title: "REASON", value: (t) => t.reason },
];

/** `swanpair-agent status`: one header line about the agent, then one row per tunnel. */
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
  if (config.lastError) lines.push(`last config error: ${config.lastError}`);
  if (status.tunnels.length === 0) {
    lines.push("No tunnels configured.");
    return lines.join("\n");
  }

  const cells = status.tunnels.map((t) => COLUMNS.map((c) => c.value(t, options.now)));
  const widths = COLUMNS.map((c, i) =>
    Math.max(c.title.length, ...cells.map((r) => r[i]?.length ?? 0)),
  );
  // Pad before painting: escape codes have length but no width. The last column is not padded.
  const row = (texts: string[], colours: (Colour | undefined)[]): string =>
    texts
      .map((text, i) =>
        paint(i < texts.length - 1 ? text.padEnd(widths[i] ?? 0) : text, colours[i]),
      )
      .join("   ");

  lines.push(
    row(
      COLUMNS.map((c) => c.title),
      [],
    ),
  );
  status.tunnels.forEach((t, r) => {
    lines.push(
      row(
        cells[r] ?? [],
        COLUMNS.map((c) => c.colour?.(t)),
      ),
    );
  });
  return lines.join("\n");
}

function formatRtt(ms: number | null): string {
  if (ms === null) return "-";
  return ms < 10 ? `${ms.toFixed(1)}ms` : `${Math.round(ms)}ms`;
}

/** kubectl-style age: the two largest units, e.g. 45s, 12m, 3h5m, 2d4h. */
function formatAge(since: string, now: Date): string {
  const ms = now.getTime() - Date.parse(since);
  if (Number.isNaN(ms)) return "-";
  // A since slightly in the future is clock skew between the daemon and this process.
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${m % 60}m`;
  return `${Math.floor(h / 24)}d${h % 24}h`;
}
