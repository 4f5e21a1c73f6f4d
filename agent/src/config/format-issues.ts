import type { ConfigIssue, LoadResult } from "./types.ts";

/**
 * Renders config issues for people (one line each, grep-friendly, like a compiler) and
 * for machines (the same facts as JSON).
 */

export type Severity = "error" | "warning";

/** `<file>: <path>: <message> [<rule>]`; warnings say so; a whole-file issue has no path. */
export function formatIssue(
  file: string,
  issue: ConfigIssue,
  severity: Severity = "error",
): string {
  const where = issue.path === "" ? "" : `${issue.path}: `;
  const tag = severity === "warning" ? "warning: " : "";
  return `${file}: ${where}${tag}${issue.message} [${issue.rule}]`;
}

/** The issues of a failed load, or the warnings of a successful one, one line each. */
export function formatLoadResult(file: string, result: LoadResult): string[] {
  if (!result.ok) return result.issues.map((i) => formatIssue(file, i));
  return result.warnings.map((i) => formatIssue(file, i, "warning"));
}

export interface IssueReport {
  file: string;
  ok: boolean;
  errors: ConfigIssue[];
  warnings: ConfigIssue[];
}

/** The JSON form; it never carries the resolved config, so no secret can ride along. */
export function issueReport(file: string, result: LoadResult): IssueReport {
  return result.ok
    ? { file, ok: true, errors: [], warnings: result.warnings }
    : { file, ok: false, errors: result.issues, warnings: [] };
}
