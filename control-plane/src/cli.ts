import { Command } from "commander";
import {
  EXIT,
  ExitAnswer,
  ExitError,
  emit,
  mustLoad,
  printErr,
  printJson,
  printReport,
  runCli,
} from "../../common/cli.ts";
import { SwpError } from "../../common/errors.ts";
import { createLogger } from "../../common/logger.ts";
import { count } from "../../common/text.ts";
import { type IssueReport, issueReport } from "../../common/yaml-config.ts";
import { checkFleetAgainstEc2 } from "./checks/fleet-vs-ec2.ts";
import type { CheckRow, VerifyCheck } from "./checks/verify-plan.ts";
import { formatPlan, formatStatus, table } from "./controller/format.ts";
import { gatherProblems } from "./controller/gather.ts";
import { manualFailover } from "./controller/manual-failover.ts";
import { runController, selfProblem } from "./controller/run.ts";
import { parseListen } from "./controller/server.ts";
import { type Snapshot, snapshot } from "./controller/snapshot.ts";
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

/** Loads the fleet or ends with exit 2 and its issues (runCli prints them, as JSON too). */
async function loadOrExit(file: string): Promise<Fleet> {
  const result = await loadFleetFile(file);
  mustLoad(file, result);
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
  return [
    count(fleet.vpcs.length, "VPC"),
    count(fleet.appliances.length, "appliance"),
    count(fleet.pairs.length, "pair"),
    count(fleet.connections.length, "connection"),
    count(routes.filter((r) => r.kind !== "association").length, "managed route"),
    ...(swapped > 0 ? [count(swapped, "swap subnet association")] : []),
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
      printReport(report, opts.json, () => {
        const fleet = loaded.ok ? loaded.fleet : undefined;
        const region = opts.ec2 ? `; matches EC2 in ${fleet?.region}` : "";
        return `${file}: valid (${fleet ? summary(fleet) : ""})${region}`;
      });
    });

  program
    .command("verify")
    .description(
      "prove the credentials and EC2 reachability: re-assert each managed table's fence tags and one route where they already are, and check SourceDestCheck",
    )
    .requiredOption("--config <file>", "fleet config (YAML)")
    .option("--json", "print the checks as JSON")
    .action(async (opts: { config: string; json?: boolean }) => {
      const fleet = await loadOrExit(opts.config);
      const rows = await withEc2(fleet, (ec2) => runVerify(ec2, fleet));
      const ok = rows.every((r) => r.status !== "FAIL");
      emit(opts.json, { ok, checks: rows }, () => formatChecks(rows));
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
      const fleet = await loadOrExit(opts.config);
      let outcomes: WriteOutcome[];
      let failures: RouteWriteError["failures"] = [];
      try {
        outcomes = await withEc2(fleet, (ec2) => prepareSwapTables(ec2, fleet));
      } catch (err) {
        if (!(err instanceof RouteWriteError)) throw err;
        outcomes = err.outcomes;
        failures = err.failures;
      }
      const n = (a: WriteOutcome["action"]) => outcomes.filter((o) => o.action === a).length;
      const counts = { created: n("created"), replaced: n("replaced"), skipped: n("skipped") };
      const failed = failures.map((f) => ({ route: f.route, error: f.error.message }));
      emit(
        opts.json,
        { ok: failed.length === 0, ...counts, failed },
        () =>
          `prepare: ${counts.created} created, ${counts.replaced} replaced, ${counts.skipped} already right, ${failed.length} failed`,
      );
      if (!opts.json)
        for (const f of failed)
          printErr(`  ${f.route.routeTable} ${f.route.destination}: ${f.error} (SWP_ERR_EC2_CALL)`);
      if (failed.length > 0) throw new ExitError(EXIT.failed);
    });

  program
    .command("iam-policy")
    .description("print the least-privilege IAM policy (JSON) for the fleet's controller")
    .requiredOption("--config <file>", "fleet config (YAML)")
    .action(async (opts: { config: string }) => {
      const fleet = await loadOrExit(opts.config);
      // JSON either way; --json (added by runCli) makes errors JSON too.
      printJson(controllerPolicy(fleet));
    });

  program
    .command("status")
    .description(
      "show each connection side: active member, member health and why, drifting routes, last failover (read-only); exits 1 while a side is in alarm, an agent is unreachable or EC2 cannot be read",
    )
    .requiredOption("--config <file>", "fleet config (YAML)")
    .option("--json", "print as JSON")
    .action(async (opts: { config: string; json?: boolean }) => {
      const fleet = await loadOrExit(opts.config);
      const snap = await withEc2(fleet, (ec2) =>
        snapshot(ec2, fleet, { agentTimeoutMs: AGENT_TIMEOUT_MS }),
      );
      const problems = gatherProblems(snap.errors);
      const trouble = statusTrouble(snap);
      const ok = trouble.length === 0;
      emit(opts.json, { ok, sides: snap.sides, problems }, () =>
        formatStatus(snap.sides, problems),
      );
      if (!ok) {
        if (!opts.json) printErr(`status: not ok: ${trouble.join("; ")}`);
        throw new ExitError(EXIT.failed);
      }
    });

  program
    .command("plan")
    .description(
      "show what the controller would write now, from one look at EC2 and the agents; writes nothing",
    )
    .requiredOption("--config <file>", "fleet config (YAML)")
    .option("--self <appliance>", "plan as a controller co-located on this appliance would")
    .option("--json", "print as JSON")
    .option(
      "--detailed-exitcode",
      "exit 0 when there is nothing to write, 2 when writes are pending, 1 on any error (as terraform plan)",
    )
    .action(async (opts: PlanOptions) => {
      const fleet = await loadOrExit(opts.config);
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
      const { events } = snap.result;
      const problems = gatherProblems(snap.errors);
      emit(opts.json, { writes, events, problems }, () => formatPlan(writes, events));
      if (opts.detailedExitcode && writes.length > 0) throw new ExitAnswer(2);
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
        opts: { config: string; to: string; force?: boolean; timeout: string; json?: boolean },
      ) => {
        const fleet = await loadOrExit(opts.config);
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
        emit(opts.json, result, () =>
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
      const fleet = await loadOrExit(opts.config);
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

interface PlanOptions {
  config: string;
  json?: boolean;
  self?: string;
  detailedExitcode?: boolean;
}

/** Why `status` exits 1: sides in alarm, agents that did not answer, EC2 that could not be read. */
function statusTrouble(snap: Snapshot): string[] {
  const alarms = snap.sides.filter((s) => s.alarm).map((s) => `${s.connection}/${s.pair}`);
  const agents = Object.keys(snap.errors.agents);
  return [
    ...(alarms.length > 0
      ? [`${count(alarms.length, "side")} in alarm (${alarms.join(", ")})`]
      : []),
    ...(agents.length > 0 ? [`unreachable agent(s): ${agents.join(", ")}`] : []),
    ...(snap.errors.routeTables ? ["route tables unreadable"] : []),
    ...(snap.errors.instances ? ["instances unreadable"] : []),
  ];
}

/** Shown by --help; runCli attaches them to their commands. */
const EXAMPLES: Record<string, string[]> = {
  "": ["swanpair validate --config fleet.yaml", "swanpair status --config fleet.yaml --json"],
  validate: [
    "swanpair validate --config fleet.yaml",
    "swanpair validate --config fleet.yaml --ec2 --json",
  ],
  verify: ["swanpair verify --config fleet.yaml"],
  prepare: ["swanpair prepare --config fleet.yaml"],
  "iam-policy": ["swanpair iam-policy --config fleet.yaml > policy.json"],
  status: [
    "swanpair status --config fleet.yaml",
    "swanpair status --config fleet.yaml --json | jq '.sides[] | {connection, active}'",
  ],
  plan: [
    "swanpair plan --config fleet.yaml",
    "swanpair plan --config fleet.yaml --self a1 --detailed-exitcode   # 0 none, 2 pending, 1 error",
  ],
  failover: ["swanpair failover a-b --to a2 --config fleet.yaml --timeout 60"],
  "controller run": [
    "swanpair controller run --config /etc/swanpair/fleet.yaml",
    "swanpair controller run --config /etc/swanpair/fleet.yaml --self a1 --listen 127.0.0.1:9470",
  ],
};

function memberOrExit(fleet: Fleet, appliance: string): void {
  const problem = selfProblem(fleet, appliance);
  if (problem) throw new ExitError(EXIT.usage, problem);
}

export function main(argv: string[]): Promise<number> {
  return runCli(buildProgram(), argv, {
    examples: EXAMPLES,
    explain: (error) =>
      error instanceof Ec2Error ? new SwpError("SWP_ERR_EC2_CALL", error.message) : undefined,
  });
}
