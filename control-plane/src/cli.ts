import { Command } from "commander";
import { EXIT, ExitError, print, printErr, runCli } from "../../common/cli.ts";
import { SwpError } from "../../common/errors.ts";
import { createLogger } from "../../common/logger.ts";
import {
  formatIssue,
  formatLoadResult,
  type IssueReport,
  issueReport,
} from "../../common/yaml-config.ts";
import { checkFleetAgainstEc2 } from "./checks/fleet-vs-ec2.ts";
import type { CheckRow, VerifyCheck } from "./checks/verify-plan.ts";
import { formatPlan, formatStatus, table } from "./controller/format.ts";
import { gatherProblems } from "./controller/gather.ts";
import { manualFailover } from "./controller/manual-failover.ts";
import { runController, selfProblem } from "./controller/run.ts";
import { parseListen } from "./controller/server.ts";
import { snapshot } from "./controller/snapshot.ts";
import { plannedWrite } from "./controller/view.ts";
import { Ec2, Ec2Error } from "./ec2/client.ts";
import {
  describeInstances,
  describeManagedTables,
  RouteWriteError,
  type WriteOutcome,
} from "./ec2/routes.ts";
import { describeSwapSubnets, prepareSwapTables } from "./ec2/swap.ts";
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
    const [view, instances, subnets] = await Promise.all([
      describeManagedTables(ec2, fleet, []),
      describeInstances(
        ec2,
        fleet.appliances.map((a) => a.instanceId),
      ),
      describeSwapSubnets(ec2, fleet),
    ]);
    return checkFleetAgainstEc2(fleet, { ...view, instances, subnets });
  });
}

function summary(fleet: Fleet): string {
  const routes = managedRoutes(fleet);
  const swapped = routes.filter((r) => r.kind === "association").length;
  const n = (count: number, what: string) => `${count} ${what}${count === 1 ? "" : "s"}`;
  return [
    n(fleet.vpcs.length, "VPC"),
    n(fleet.appliances.length, "appliance"),
    n(fleet.pairs.length, "pair"),
    n(fleet.connections.length, "connection"),
    n(routes.filter((r) => r.kind !== "association").length, "managed route"),
    ...(swapped > 0 ? [n(swapped, "swap subnet association")] : []),
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
    .command("prepare")
    .description(
      "swap mode: point each member route table's managed routes at its own member (precheck; moves no traffic)",
    )
    .requiredOption("--config <file>", "fleet config (YAML)")
    .option("--json", "print the outcome as JSON")
    .action(async (opts: { config: string; json?: boolean }) => {
      const fleet = await loadOrExit(opts.config, Boolean(opts.json));
      let outcomes: WriteOutcome[];
      let failures: RouteWriteError["failures"] = [];
      try {
        outcomes = await withEc2(fleet, (ec2) => prepareSwapTables(ec2, fleet));
      } catch (err) {
        if (!(err instanceof RouteWriteError)) throw err;
        outcomes = err.outcomes;
        failures = err.failures;
      }
      const count = (a: WriteOutcome["action"]) => outcomes.filter((o) => o.action === a).length;
      const counts = {
        created: count("created"),
        replaced: count("replaced"),
        skipped: count("skipped"),
      };
      const failed = failures.map((f) => ({ route: f.route, error: f.error.message }));
      if (opts.json) print(JSON.stringify({ ok: failed.length === 0, ...counts, failed }, null, 2));
      else {
        print(
          `prepare: ${counts.created} created, ${counts.replaced} replaced, ${counts.skipped} already right, ${failed.length} failed`,
        );
        for (const f of failed)
          printErr(`  ${f.route.routeTable} ${f.route.destination}: ${f.error} (SWP_ERR_EC2_CALL)`);
      }
      if (failed.length > 0) throw new ExitError(EXIT.failed);
    });

  program
    .command("iam-policy")
    .description("print the least-privilege IAM policy (JSON) for the fleet's controller")
    .requiredOption("--config <file>", "fleet config (YAML)")
    .action(async (opts: { config: string }) => {
      const fleet = await loadOrExit(opts.config, false);
      print(JSON.stringify(controllerPolicy(fleet), null, 2));
    });

  program
    .command("status")
    .description(
      "show each connection side: active member, member health and why, drifting routes, last failover (read-only)",
    )
    .requiredOption("--config <file>", "fleet config (YAML)")
    .option("--json", "print as JSON")
    .action(async (opts: { config: string; json?: boolean }) => {
      const fleet = await loadOrExit(opts.config, Boolean(opts.json));
      const snap = await withEc2(fleet, (ec2) =>
        snapshot(ec2, fleet, { agentTimeoutMs: AGENT_TIMEOUT_MS }),
      );
      const problems = gatherProblems(snap.errors);
      if (opts.json) print(JSON.stringify({ sides: snap.sides, problems }, null, 2));
      else print(formatStatus(snap.sides, problems));
      if (snap.errors.routeTables) throw new ExitError(EXIT.failed);
    });

  program
    .command("plan")
    .description(
      "show what the controller would write now, from one look at EC2 and the agents; writes nothing",
    )
    .requiredOption("--config <file>", "fleet config (YAML)")
    .option("--self <appliance>", "plan as a controller co-located on this appliance would")
    .option("--json", "print as JSON")
    .action(async (opts: { config: string; json?: boolean; self?: string }) => {
      const fleet = await loadOrExit(opts.config, Boolean(opts.json));
      if (opts.self !== undefined) memberOrExit(fleet, opts.self);
      const snap = await withEc2(fleet, (ec2) =>
        snapshot(ec2, fleet, { agentTimeoutMs: AGENT_TIMEOUT_MS, self: opts.self }),
      );
      if (snap.errors.routeTables)
        throw new SwpError(
          "SWP_ERR_EC2_CALL",
          `cannot read the route tables: ${snap.errors.routeTables}`,
        );
      const writes = snap.result.actions.map(plannedWrite);
      if (opts.json)
        print(
          JSON.stringify(
            { writes, events: snap.result.events, problems: gatherProblems(snap.errors) },
            null,
            2,
          ),
        );
      else print(formatPlan(writes, snap.result.events));
    });

  program
    .command("failover")
    .description(
      "move a connection side's routes to APPLIANCE now, with the next fence epoch, and wait until EC2 shows them all there",
    )
    .argument("<connection>", "connection name")
    .requiredOption("--to <appliance>", "the member to move to")
    .requiredOption("--config <file>", "fleet config (YAML)")
    .option("--force", "move even if the target does not look healthy")
    .option("--timeout <seconds>", "give up waiting after this long", "120")
    .action(
      async (
        connection: string,
        opts: { config: string; to: string; force?: boolean; timeout: string },
      ) => {
        const fleet = await loadOrExit(opts.config, false);
        const timeout = Number(opts.timeout);
        if (!Number.isFinite(timeout) || timeout <= 0)
          throw new ExitError(EXIT.usage, `--timeout ${opts.timeout}: expected seconds > 0`);
        const result = await withEc2(fleet, (ec2) =>
          manualFailover(ec2, fleet, {
            connection,
            to: opts.to,
            force: Boolean(opts.force),
            timeoutMs: timeout * 1000,
            agentTimeoutMs: AGENT_TIMEOUT_MS,
            progress: printErr,
          }),
        );
        print(
          result.unchanged
            ? `${result.connection}/${result.pair}: already on ${result.to}`
            : `${result.connection}/${result.pair}: ${result.from ?? "nobody"} → ${result.to} (epoch ${result.epoch}, ${result.written} route(s) written)`,
        );
      },
    );

  const controller = program.command("controller").description("the failover controller");
  controller
    .command("run")
    .description(
      "run the control loop: every failover.intervalMs read EC2 and the agents, decide, and write routes; serves /v1/status and /metrics",
    )
    .requiredOption("--config <file>", "fleet config (YAML)")
    .option(
      "--self <appliance>",
      "co-located mode: run on this appliance and only ever claim routes for it",
    )
    .option("--listen <host:port>", "status and metrics endpoint", "127.0.0.1:9470")
    .action(async (opts: { config: string; self?: string; listen: string }) => {
      const fleet = await loadOrExit(opts.config, false);
      if (opts.self !== undefined) memberOrExit(fleet, opts.self);
      let listen: ReturnType<typeof parseListen>;
      try {
        listen = parseListen(opts.listen);
      } catch (err) {
        throw new ExitError(EXIT.usage, (err as Error).message);
      }
      await runController({
        file: opts.config,
        fleet,
        self: opts.self,
        listen,
        logger: createLogger({ name: "swanpair-controller" }),
      });
    });

  return program;
}

/** An agent slower than this is reported unreachable by the one-shot commands. */
const AGENT_TIMEOUT_MS = 3000;

function memberOrExit(fleet: Fleet, appliance: string): void {
  const problem = selfProblem(fleet, appliance);
  if (problem) throw new ExitError(EXIT.usage, problem);
}

export function main(argv: string[]): Promise<number> {
  return runCli(buildProgram(), argv, (error) =>
    error instanceof Ec2Error ? `${error.message} (SWP_ERR_EC2_CALL)` : undefined,
  );
}
