import type { CheckResult } from "./checks.ts";

function packagesOf(failed: readonly CheckResult[]): string[] {
  return [...new Set(failed.flatMap((r) => (r.package ? [r.package] : [])))];
}

const LABEL: Record<CheckResult["status"], string> = { pass: "ok", fail: "FAIL", skip: "skip" };

/** `swanpair-agent doctor`: one aligned line per check, then what to install, if anything. */
export function formatChecks(results: readonly CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.id.length));
  const lines = results.map(
    (r) => `${LABEL[r.status].padEnd(5)} ${r.id.padEnd(width)}  ${r.message}`,
  );
  const failed = results.filter((r) => r.status === "fail");
  if (failed.length === 0) {
    lines.push(`all ${results.filter((r) => r.status === "pass").length} checks passed`);
    return lines.join("\n");
  }
  lines.push(`${failed.length} of ${results.length} checks failed`);
  const packages = packagesOf(failed);
  if (packages.length > 0) lines.push(`install: apt-get install ${packages.join(" ")}`);
  return lines.join("\n");
}

/** The lines `run` prints before it exits 1: each failure, then what to install. */
export function formatPreflightFailure(
  failed: readonly CheckResult[],
  configPath: string,
): string[] {
  const packages = packagesOf(failed);
  return [
    ...failed.map((r) => `preflight: ${r.message}`),
    ...(packages.length > 0
      ? [`preflight: install with: apt-get install ${packages.join(" ")}`]
      : []),
    `preflight: nothing was started; \`swanpair-agent doctor --config ${configPath}\` lists every check`,
  ];
}
