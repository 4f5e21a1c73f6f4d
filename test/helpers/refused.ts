import type { Test } from "tap";
import type { ConfigIssue } from "../../common/yaml-config.ts";

/**
 * Asserts that a config load was refused with an issue at `expectPath` under `expectRule`.
 * Returns the issues, or undefined when the load was (wrongly) accepted.
 */
export function refusedWith(
  t: Test,
  result: { ok: true } | { ok: false; issues: ConfigIssue[] },
  expected: { expectPath: string; expectRule: string },
): ConfigIssue[] | undefined {
  t.equal(result.ok, false, "is refused");
  if (result.ok) return undefined;
  t.ok(
    result.issues.some((i) => i.path === expected.expectPath && i.rule === expected.expectRule),
    `reports ${expected.expectPath || "<file>"} [${expected.expectRule}]`,
    { issues: result.issues },
  );
  return result.issues;
}
