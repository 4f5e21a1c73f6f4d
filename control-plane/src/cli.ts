import { Command } from "commander";
import { runCli } from "../../common/cli.ts";
import { controllerRun } from "./commands/controller-run.ts";
import { failover } from "./commands/failover.ts";
import { iamPolicy } from "./commands/iam-policy.ts";
import { leasesInit } from "./commands/leases.ts";
import { plan } from "./commands/plan.ts";
import { prepare } from "./commands/prepare.ts";
import { explainEc2, type Verb } from "./commands/shared.ts";
import { status } from "./commands/status.ts";
import { validate } from "./commands/validate.ts";
import { verify } from "./commands/verify.ts";

/** `swanpair`: the verbs, one file each under commands/, put together in --help's order. */

const VERBS: Verb[] = [validate, verify, prepare, iamPolicy, status, plan, failover];
const CONTROLLER_VERBS: Verb[] = [controllerRun];
const LEASES_VERBS: Verb[] = [leasesInit];

export function buildProgram(): Command {
  const program = new Command("swanpair")
    .description("Moves VPC routes to the healthy appliance of each swanpair pair")
    .showHelpAfterError()
    .exitOverride();
  for (const verb of VERBS) verb.register(program);
  const controller = program.command("controller").description("the failover controller");
  for (const verb of CONTROLLER_VERBS) verb.register(controller);
  const leases = program
    .command("leases")
    .description("the DynamoDB lease table that controllers sharing a fleet write through");
  for (const verb of LEASES_VERBS) verb.register(leases);
  return program;
}

/** Shown by --help; runCli attaches them to their commands. */
const EXAMPLES: Record<string, string[]> = {
  "": ["swanpair validate --config fleet.yaml", "swanpair status --config fleet.yaml --json"],
  ...Object.fromEntries(
    [...VERBS, ...CONTROLLER_VERBS, ...LEASES_VERBS].map((v) => [v.path, v.examples]),
  ),
};

export function main(argv: string[]): Promise<number> {
  return runCli(buildProgram(), argv, { examples: EXAMPLES, explain: explainEc2 });
}
