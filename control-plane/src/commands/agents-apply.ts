import type { ConfigPushResult, ConfigRefusal } from "../../../common/agent-api/status.ts";
import { emit, useColor } from "../../../common/cli.ts";
import { type ConfigIssue, formatIssue } from "../../../common/yaml-config.ts";
import { type AgentAnswer, askAgent, reachable } from "../tunnels/ask-agents.ts";
import { noteTable, type Row } from "../tunnels/format.ts";
import {
  ACT_TIMEOUT_MS,
  exitIfTrouble,
  type OperatorCertOptions,
  operatorCertOptions,
  withOperatorCert,
} from "./agent-commands.ts";
import { renderOrExit } from "./agents-render.ts";
import { AGENT_TIMEOUT_MS, loadOrExit, type Verb } from "./shared.ts";

/**
 * `swanpair agents apply`: each appliance's agent config, rendered from the fleet file, pushed
 * to its agent (PUT /v1/config, decision 0016), every agent at once; or with --dry-run, compared
 * with what each agent runs (GET /v1/config).
 */

export interface ApplianceApply {
  name: string;
  /**
   * applied/unchanged: the agent runs the rendered config now; refused: it found the config
   * invalid and changed nothing; failed: it answered another error (a read-only certificate,
   * charon refusing the config); would-change: --dry-run found a difference.
   */
  outcome: "applied" | "unchanged" | "would-change" | "refused" | "failed" | "unreachable";
  /** What the agent did (applied, unchanged). */
  result?: ConfigPushResult;
  /** Why it refused, as the agent said, with the field paths. */
  issues?: ConfigIssue[];
  /** --dry-run: the lines that would change, in unified-diff form ("@@", "-", "+"). */
  diff?: string[];
  error?: string;
}

export interface ApplyView {
  dryRun: boolean;
  appliances: ApplianceApply[];
}

export function applyView(answers: AgentAnswer<ConfigPushResult | ConfigRefusal>[]): ApplyView {
  return {
    dryRun: false,
    appliances: answers.map((a): ApplianceApply => {
      if (!a.ok) return failure(a);
      const answer = a.value;
      if (!("ok" in answer)) {
        const { message, issues } = answer.error;
        return { name: a.appliance, outcome: "refused", error: message, issues };
      }
      const changed =
        answer.configChanged || answer.loaded.length > 0 || answer.unloaded.length > 0;
      return { name: a.appliance, outcome: changed ? "applied" : "unchanged", result: answer };
    }),
  };
}

export function dryRunView(
  rendered: ReadonlyMap<string, string>,
  answers: AgentAnswer<string>[],
): ApplyView {
  return {
    dryRun: true,
    appliances: answers.map((a): ApplianceApply => {
      if (!a.ok) return failure(a);
      const diff = lineDiff(a.value, rendered.get(a.appliance) ?? "");
      return diff.length === 0
        ? { name: a.appliance, outcome: "unchanged" }
        : { name: a.appliance, outcome: "would-change", diff };
    }),
  };
}

function failure(a: Extract<AgentAnswer<unknown>, { ok: false }>): ApplianceApply {
  return { name: a.appliance, outcome: reachable(a) ? "failed" : "unreachable", error: a.error };
}

/** The appliances that do not run their rendered config (or, dry, could not be asked). */
export function applyTrouble(view: ApplyView): string[] {
  const bad = new Set<ApplianceApply["outcome"]>(["refused", "failed", "unreachable"]);
  const failed = view.appliances.filter((a) => bad.has(a.outcome));
  if (failed.length === 0) return [];
  const label = view.dryRun ? "could not compare" : "not applied";
  return [`${label}: ${failed.map((a) => `${a.name} (${a.outcome})`).join(", ")}`];
}

const HEADER = ["APPLIANCE", "RESULT", "GENERATION", "LOADED", "UNLOADED", "UNCHANGED"];
const DRY_HEADER = ["APPLIANCE", "RESULT", "LINES"];

export function formatApply(view: ApplyView, { color }: { color: boolean }): string {
  const names = (list: string[]) => list.join(",") || "-";
  const rows = view.appliances.map((a): Row => {
    const colour =
      a.outcome === "unchanged" ? undefined : a.outcome === "applied" ? "green" : "red";
    if (view.dryRun && (a.outcome === "unchanged" || a.outcome === "would-change")) {
      const removed = a.diff?.filter((l) => l.startsWith("-")).length ?? 0;
      const added = a.diff?.filter((l) => l.startsWith("+")).length ?? 0;
      const lines = a.diff ? `-${removed} +${added}` : "-";
      return { cells: [a.name, a.outcome, lines], colour: a.diff && "yellow" };
    }
    const r = a.result;
    if (!r) return { appliance: a.name, note: `${a.outcome}: ${a.error}`, colour };
    const cells = [a.name, a.outcome, String(r.generation), names(r.loaded), names(r.unloaded)];
    return { cells: [...cells, String(r.unchanged.length)], colour };
  });
  const header = view.dryRun ? DRY_HEADER : HEADER;
  const details = view.appliances.flatMap((a) => [
    ...(a.issues ?? []).map((i) => `${a.name}: ${formatIssue(undefined, i)}`),
    ...(a.diff ? [`--- ${a.name} (running)`, `+++ ${a.name} (rendered)`, ...a.diff] : []),
  ]);
  const table = noteTable(header, rows, { painted: "RESULT", color });
  return details.length > 0 ? `${table}\n\n${details.join("\n")}` : table;
}

/**
 * The changed lines of `after` against `before`, in unified-diff hunks without context:
 * `@@ -12,2 +12,3 @@`, then the removed lines ("-") and the added ones ("+"). A longest common
 * subsequence of lines; agent configs are a few hundred lines.
 */
export function lineDiff(before: string, after: string): string[] {
  const a = before.split("\n");
  const b = after.split("\n");
  const width = b.length + 1;
  // common[i * width + j]: the length of the LCS of a[i..] and b[j..].
  const common = new Uint32Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      common[i * width + j] =
        a[i] === b[j]
          ? (common[(i + 1) * width + j + 1] ?? 0) + 1
          : Math.max(common[(i + 1) * width + j] ?? 0, common[i * width + j + 1] ?? 0);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      i++;
      j++;
      continue;
    }
    const [from, to] = [i, j];
    while (i < a.length || j < b.length) {
      if (i < a.length && j < b.length && a[i] === b[j]) break;
      const down = i < a.length ? (common[(i + 1) * width + j] ?? 0) : -1;
      const right = j < b.length ? (common[i * width + j + 1] ?? 0) : -1;
      if (down >= right) i++;
      else j++;
    }
    // As diff -u: a line number and a count, which is left out when 1; an empty side names the line before.
    const range = (start: number, n: number) =>
      n === 1 ? `${start + 1}` : `${n === 0 ? start : start + 1},${n}`;
    out.push(`@@ -${range(from, i - from)} +${range(to, j - to)} @@`);
    out.push(...a.slice(from, i).map((l) => `-${l}`), ...b.slice(to, j).map((l) => `+${l}`));
  }
  return out;
}

interface ApplyOptions extends OperatorCertOptions {
  config: string;
  appliance?: string;
  dryRun?: boolean;
  json?: boolean;
}

export const agentsApply: Verb = {
  path: "agents apply",
  examples: [
    "swanpair agents apply --config fleet.yaml --dry-run",
    "swanpair agents apply --config fleet.yaml --tls-cert alice.pem --tls-key alice.key",
    "swanpair agents apply --config fleet.yaml --appliance a1 --json",
  ],
  register: (parent) =>
    operatorCertOptions(
      parent
        .command("apply")
        .description(
          "render each appliance's agent config from the fleet file and push it to its agent, all at once; each agent validates it (keys included), writes it and applies what changed, hitlessly, or refuses it and keeps its old config; one row per appliance; exits 1 when any agent refused, failed or could not be reached",
        )
        .requiredOption("--config <file>", "fleet config (YAML)")
        .option("--appliance <name>", "only this appliance's agent")
        .option(
          "--dry-run",
          "only compare each rendered config with the one its agent runs, and show the lines that would change; writes nothing",
        )
        .option("--json", "print as JSON"),
    ).action(async (opts: ApplyOptions) => {
      const fleet = await withOperatorCert(await loadOrExit(opts.config), opts);
      const rendered = new Map(
        (await renderOrExit(fleet, opts.config, opts.appliance)).map((c) => [c.appliance, c.yaml]),
      );
      const targets = fleet.appliances.filter((a) => rendered.has(a.name));
      const view = opts.dryRun
        ? dryRunView(
            rendered,
            await Promise.all(
              targets.map((a) => askAgent(fleet, a, (api) => api.config(), AGENT_TIMEOUT_MS)),
            ),
          )
        : applyView(
            await Promise.all(
              targets.map((a) =>
                askAgent(
                  fleet,
                  a,
                  (api) => api.putConfig(rendered.get(a.name) as string),
                  ACT_TIMEOUT_MS,
                ),
              ),
            ),
          );
      emit(opts.json, view, () => formatApply(view, { color: useColor() }));
      exitIfTrouble("agents apply", applyTrouble(view), opts.json);
    }),
};
