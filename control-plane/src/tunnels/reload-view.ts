import type { ReloadResult } from "../../../common/agent-api/status.ts";
import { count } from "../../../common/text.ts";
import { formatIssue } from "../../../common/yaml-config.ts";
import { type AgentAnswer, reachable } from "./ask-agents.ts";
import { noteTable, type Row } from "./format.ts";

/** `swanpair agents reload` as data (its --json) and as a table, pure. */

export interface ApplianceReload {
  name: string;
  /** rejected: the agent found its config file invalid and left everything as it was. */
  outcome: "reloaded" | "rejected" | "error" | "unreachable";
  error?: string;
  /** The agent's answer, when it gave one (also for rejected). */
  result?: ReloadResult;
}

export interface ReloadView {
  appliances: ApplianceReload[];
}

export function reloadView(answers: AgentAnswer<ReloadResult>[]): ReloadView {
  return {
    appliances: answers.map((a): ApplianceReload => {
      if (!a.ok) {
        return {
          name: a.appliance,
          outcome: reachable(a) ? "error" : "unreachable",
          error: a.error,
        };
      }
      const result = a.value;
      if (result.ok) return { name: a.appliance, outcome: "reloaded", result };
      return { name: a.appliance, outcome: "rejected", error: rejection(result), result };
    }),
  };
}

function rejection(result: ReloadResult): string {
  const [first, ...more] = result.issues ?? [];
  const why = result.error ?? "configuration invalid";
  if (!first) return `${why}; nothing changed`;
  const rest = more.length > 0 ? ` (and ${count(more.length, "more issue")})` : "";
  return `${why}: ${formatIssue(undefined, first)}${rest}; nothing changed`;
}

/** The appliances that did not reload, with why in a word; the command exits 1 unless empty. */
export function reloadTrouble(view: ReloadView): string[] {
  const failed = view.appliances.filter((a) => a.outcome !== "reloaded");
  if (failed.length === 0) return [];
  return [`not reloaded: ${failed.map((a) => `${a.name} (${a.outcome})`).join(", ")}`];
}

const HEADER = ["APPLIANCE", "RESULT", "GENERATION", "LOADED", "UNLOADED", "UNCHANGED"];

export function formatReload(view: ReloadView, { color }: { color: boolean }): string {
  const names = (list: string[]) => list.join(",") || "-";
  const rows = view.appliances.map((a): Row => {
    if (a.outcome !== "reloaded" || !a.result) {
      return { appliance: a.name, note: `${a.outcome}: ${a.error}`, colour: "red" };
    }
    const r = a.result;
    return {
      colour: "green",
      cells: [
        a.name,
        a.outcome,
        String(r.generation),
        names(r.loaded),
        names(r.unloaded),
        String(r.unchanged.length),
      ],
    };
  });
  return noteTable(HEADER, rows, { painted: "RESULT", color });
}
