import { Command } from "commander";
import { EXIT, ExitError, print, printErr, runCli } from "../../common/cli.ts";
import {
  formatIssue,
  formatLoadResult,
  type IssueReport,
  issueReport,
} from "../../common/yaml-config.ts";
import { checkFleetAgainstEc2 } from "./checks/fleet-vs-ec2.ts";
import type { CheckRow, VerifyCheck } from "./checks/verify-plan.ts";
import { Ec2, Ec2Error } from "./ec2/client.ts";
import { describeInstances, describeManagedTables } from "./ec2/routes.ts";
import { loadFleetFile } from "./fleet/load.ts";
import { managedRoutes } from "./fleet/routes.ts";
import type { Fleet } from "./fleet/types.ts";
import { controllerPolicy } from "./iam/policy.ts";
import { runVerify } from "./verify.ts";

/** Loads the fleet or ends with exit 2 and its issues; warnings go to stderr either way. */
async function loadOrExit(file: string, json: boolean): Promise<Fleet> {
  const result = await loadFleetFile(file);
  if (!result.ok && json) print(JSON.stringify(issueReport(file, result), null, 2));
  else for (const line of formatLoadResult(file, result)) printErr(line);
  if (!result.ok) throw new ExitError(EXIT.usage);
  return result.fleet;
}

async function withEc2<T>(fleet: Fleet, use: (ec2: Ec2) => Promise<T>): Promise<T> {
  const ec2 = new Ec2(fleet);
  try {
    return await use(ec2);
  } finally {
    ec2.destroy();
  }
}

/** Read-only: the fleet's route tables and instances as EC2 shows them, judged against the file. */
function checkAgainstEc2(fleet: Fleet) {
  return withEc2(fleet, async (ec2) => {
    const [view, instances] = await Promise.all([
      describeManagedTables(ec2, fleet, []),
      describeInstances(
        ec2,
        fleet.appliances.map((a) => a.instanceId),
      ),
    ]);
    return checkFleetAgainstEc2(fleet, { ...view, instances });
  });
}

function summary(fleet: Fleet): string {
  const n = (count: number, what: string) => `${count} ${what}${count === 1 ? "" : "s"}`;
  return [
    n(fleet.vpcs.length, "VPC"),
    n(fleet.appliances.length, "appliance"),
    n(fleet.pairs.length, "pair"),
    n(fleet.connections.length, "connection"),
    n(managedRoutes(fleet).length, "managed route"),
  ].join(", ");
}

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
    const cells = [
      [subject, "STATUS", "REASON"],
      ...mine.map((r) => [r.subject, r.status, r.reason]),
    ];
    const widths = [0, 1].map((c) => Math.max(...cells.map((row) => row[c]?.length ?? 0)));
    const lines = cells.map(([s = "", st = "", reason = ""]) =>
      [s.padEnd(widths[0] ?? 0), st.padEnd(widths[1] ?? 0), reason].join("   "),
    );
    return [[title, ...lines].join("\n")];
  });
  const count = (status: CheckRow["status"]) => rows.filter((r) => r.status === status).length;
  blocks.push(`verify: ${count("OK")} OK, ${count("FAIL")} FAIL, ${count("SKIP")} SKIP`);
  return blocks.join("\n\n");
}

export function buildProgram(): Command {
  const program = new Command("swanpair")
    .description("Moves VPC routes to the healthy appliance of each swanpair pair")
    .showHelpAfterError()
    .exitOverride();

  program
    .command("validate")
    .description(
      "check a fleet file and report every problem with its field path; --ec2 also checks it against EC2 (read-only)",
    )
    .requiredOption("--config <file>", "fleet config (YAML)")
    .option("--json", "print the report as JSON")
    .option("--ec2", "also check route tables and instances against the EC2 API (read-only)")
    .action(async (opts: { config: string; json?: boolean; ec2?: boolean }) => {
      const file = opts.config;
      const loaded = await loadFleetFile(file);
      let report: IssueReport = issueReport(file, loaded);
      if (loaded.ok && opts.ec2) {
        const found = await checkAgainstEc2(loaded.fleet);
        report = {
          file,
          ok: found.errors.length === 0,
          errors: found.errors,
          warnings: [...loaded.warnings, ...found.warnings],
        };
      }
      if (opts.json) print(JSON.stringify(report, null, 2));
      else {
        for (const i of report.errors) printErr(formatIssue(file, i));
        for (const i of report.warnings) printErr(formatIssue(file, i, "warning"));
        if (report.ok && loaded.ok) {
          const region = opts.ec2 ? `; matches EC2 in ${loaded.fleet.region}` : "";
          print(`${file}: valid (${summary(loaded.fleet)})${region}`);
        }
      }
      if (!report.ok) throw new ExitError(EXIT.usage);
    });

  program
    .command("verify")
    .description(
      "prove the credentials and EC2 reachability: re-assert each managed table's fence tags and one route where they already are, and check SourceDestCheck",
    )
    .requiredOption("--config <file>", "fleet config (YAML)")
    .option("--json", "print the checks as JSON")
    .action(async (opts: { config: string; json?: boolean }) => {
      const fleet = await loadOrExit(opts.config, Boolean(opts.json));
      const rows = await withEc2(fleet, (ec2) => runVerify(ec2, fleet));
      const ok = rows.every((r) => r.status !== "FAIL");
      print(opts.json ? JSON.stringify({ ok, checks: rows }, null, 2) : formatChecks(rows));
      if (!ok) throw new ExitError(EXIT.failed);
    });

  program
    .command("iam-policy")
    .description("print the least-privilege IAM policy (JSON) for the fleet's controller")
    .requiredOption("--config <file>", "fleet config (YAML)")
    .action(async (opts: { config: string }) => {
      const fleet = await loadOrExit(opts.config, false);
      print(JSON.stringify(controllerPolicy(fleet), null, 2));
    });

  return program;
}

export function main(argv: string[]): Promise<number> {
  return runCli(buildProgram(), argv, (error) =>
    error instanceof Ec2Error ? error.message : undefined,
  );
}
