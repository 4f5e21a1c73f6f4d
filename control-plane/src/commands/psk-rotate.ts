import { EXIT, ExitError, emit, printErr } from "../../../common/cli.ts";
import { table } from "../controller/format.ts";
import type { TunnelOutcome } from "../keys/gaps.ts";
import { type RotateReport, readOnlyCertificates, rotateConnection } from "../keys/rotate.ts";
import { tunnelKeys } from "../keys/tunnel-keys.ts";
import {
  ACT_TIMEOUT_MS,
  exitIfTrouble,
  type OperatorCertOptions,
  operatorCertOptions,
  withOperatorCert,
} from "./agent-commands.ts";
import { keyPrefixOrExit } from "./psk-shared.ts";
import { AGENT_TIMEOUT_MS, loadOrExit, type Verb } from "./shared.ts";

/**
 * `swanpair psk rotate CONNECTION`: new keys for every tunnel of the connection, both ends'
 * agents reload, and the command waits until every tunnel is up on both ends, saying how long
 * each was down. See docs/operations.md, "Rotate a pre-shared key".
 */

interface RotateOptions extends OperatorCertOptions {
  config: string;
  timeout: string;
  json?: boolean;
}

/** How often the agents' status is read while waiting: the resolution of the reported gaps. */
const POLL_MS = 100;

export const pskRotate: Verb = {
  path: "psk rotate",
  examples: [
    "swanpair psk rotate a-b --config fleet.yaml",
    "swanpair psk rotate a-b --config fleet.yaml --tls-cert alice.pem --tls-key alice.key --json",
  ],
  register: (parent) =>
    operatorCertOptions(
      parent
        .command("rotate")
        .description(
          "write new keys for every tunnel of CONNECTION, have both ends' agents reload them, and wait until every tunnel is up on both ends; reports how long each was down",
        )
        .argument("<connection>", "connection name")
        .requiredOption("--config <file>", "fleet config (YAML)")
        .option("--timeout <seconds>", "how long to wait for the tunnels after the reloads", "60"),
    ).action(async (connection: string, opts: RotateOptions) => {
      const fleet = await withOperatorCert(await loadOrExit(opts.config), opts);
      if (!fleet.connections.some((c) => c.name === connection)) {
        const known = fleet.connections.map((c) => c.name).join(", ");
        throw new ExitError(EXIT.usage, `no connection named "${connection}" (${known})`);
      }
      const timeout = Number(opts.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0)
        throw new ExitError(EXIT.usage, `--timeout ${opts.timeout}: expected seconds > 0`);
      const keys = tunnelKeys(fleet, keyPrefixOrExit(fleet), connection);
      const readOnly = await readOnlyCertificates(fleet, keys);
      if (readOnly.length > 0) throw new ExitError(EXIT.usage, readOnly.join("\n"));

      const report = await rotateConnection(fleet, {
        connection,
        keys,
        timeoutMs: timeout * 1000,
        pollMs: POLL_MS,
        statusTimeoutMs: AGENT_TIMEOUT_MS,
        reloadTimeoutMs: ACT_TIMEOUT_MS,
        // Progress on a terminal only; piped output stays the report alone.
        ...(process.stderr.isTTY && { progress: printErr }),
      });
      emit(opts.json, report, () => formatRotate(report));
      exitIfTrouble("psk rotate", trouble(report), opts.json);
    }),
};

function trouble(report: RotateReport): string[] {
  return [
    ...(report.writeError !== undefined ? [report.writeError] : []),
    ...report.agents
      .filter((a) => a.result !== "reloaded")
      .map((a) => `${a.appliance} ${a.result}`),
    ...report.tunnels
      .filter((t) => t.state !== "up")
      .map(
        (t) => `${t.appliances.join("⇄")} ${t.state}${report.timedOut ? " after the timeout" : ""}`,
      ),
  ];
}

function formatRotate(report: RotateReport): string {
  const keys = table([
    ["PARAMETER", "TUNNEL", "VERSION"],
    ...report.keys.map((k) => [k.parameter, k.appliances.join(" ⇄ "), String(k.version)]),
  ]);
  const agents = table([
    ["AGENT", "RELOAD"],
    ...report.agents.map((a) => [
      a.appliance,
      a.result === "reloaded"
        ? `reloaded (generation ${a.generation})`
        : [a.result, a.error, ...(a.issues ?? []).map((i) => `${i.path}: ${i.message}`)]
            .filter(Boolean)
            .join(": "),
    ]),
  ]);
  const tunnels = table([
    ["TUNNEL", "STATE", "GAP", "DOWN"],
    ...report.tunnels.map((t) => [t.appliances.join(" ⇄ "), t.state, gap(t), down(t)]),
  ]);
  return [
    `${report.connection}: ${report.keys.length} key(s) rotated`,
    ...(report.writeError !== undefined ? [`writing stopped: ${report.writeError}`] : []),
    "",
    ...keys,
    "",
    ...agents,
    "",
    ...tunnels,
  ].join("\n");
}

function gap(t: TunnelOutcome): string {
  if (t.state === "unknown") return t.note ?? "unknown";
  return t.gapMs === null ? "still down" : `${t.gapMs} ms`;
}

/** Each stretch as its start (UTC time of day) and length: "10:15:02.120 for 840 ms". */
function down(t: TunnelOutcome): string {
  if (t.down.length === 0) return "-";
  return t.down
    .map((d) => `${d.from.slice(11, 23)} for ${d.ms === null ? "…" : `${d.ms} ms`}`)
    .join(", ");
}
