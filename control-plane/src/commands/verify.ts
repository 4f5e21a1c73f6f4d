import { EXIT, ExitError, emit } from "../../../common/cli.ts";
import type { CheckRow, VerifyCheck } from "../checks/verify-plan.ts";
import { table } from "../controller/format.ts";
import { runVerify } from "../verify.ts";
import { loadOrExit, type Verb, withEc2 } from "./shared.ts";

/** `swanpair verify`: the credentials and EC2 reachability, proved check by check. */

const CHECK_TITLES: Record<VerifyCheck, { title: string; subject: string }> = {
  "fence-tags": { title: "fence tags (CreateTags)", subject: "ROUTE TABLE" },
  "replace-route": { title: "route write (ReplaceRoute)", subject: "ROUTE TABLE" },
  "source-dest-check": { title: "SourceDestCheck (DescribeInstances)", subject: "APPLIANCE" },
};

/** One table per check: subject, status, reason; the reason column is not padded. */
function formatChecks(rows: CheckRow[]): string {
  const blocks = Object.entries(CHECK_TITLES).flatMap(([check, { title, subject }]) => {
    const mine = rows.filter((r) => r.check === check);
    if (mine.length === 0) return [];
    const lines = table([
      [subject, "STATUS", "REASON"],
      ...mine.map((r) => [r.subject, r.status, r.reason]),
    ]);
    return [[title, ...lines].join("\n")];
  });
  const count = (status: CheckRow["status"]) => rows.filter((r) => r.status === status).length;
  blocks.push(`verify: ${count("OK")} OK, ${count("FAIL")} FAIL, ${count("SKIP")} SKIP`);
  return blocks.join("\n\n");
}

export const verify: Verb = {
  path: "verify",
  examples: ["swanpair verify --config fleet.yaml"],
  register: (parent) =>
    parent
      .command("verify")
      .description(
        "prove the credentials and EC2 reachability: ask EC2 with DryRun whether the controller may write each managed table's fence and routes (nothing is written), and check SourceDestCheck",
      )
      .requiredOption("--config <file>", "fleet config (YAML)")
      .option("--json", "print the checks as JSON")
      .action(async (opts: { config: string; json?: boolean }) => {
        const fleet = await loadOrExit(opts.config);
        const rows = await withEc2(fleet, (ec2) => runVerify(ec2, fleet));
        const ok = rows.every((r) => r.status !== "FAIL");
        emit(opts.json, { ok, checks: rows }, () => formatChecks(rows));
        if (!ok) throw new ExitError(EXIT.failed);
      }),
};
