import { ExitAnswer, emit } from "../../../common/cli.ts";
import { SwpError } from "../../../common/errors.ts";
import { formatPlan } from "../controller/format.ts";
import { gatherProblems } from "../controller/gather.ts";
import { snapshot } from "../controller/snapshot.ts";
import { plannedWrite } from "../controller/view.ts";
import { AGENT_TIMEOUT_MS, loadOrExit, memberOrExit, type Verb, withEc2 } from "./shared.ts";

/** `swanpair plan`: what the controller would write now; writes nothing. */

interface PlanOptions {
  config: string;
  json?: boolean;
  self?: string;
  detailedExitcode?: boolean;
}

export const plan: Verb = {
  path: "plan",
  examples: [
    "swanpair plan --config fleet.yaml",
    "swanpair plan --config fleet.yaml --self a1 --detailed-exitcode   # 0 none, 2 pending, 1 error",
  ],
  register: (parent) =>
    parent
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
      }),
};
