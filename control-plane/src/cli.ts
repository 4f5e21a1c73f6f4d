import { Command } from "commander";
import { runCli } from "../../common/cli.ts";
import { agentsApply } from "./commands/agents-apply.ts";
import { agentsReload } from "./commands/agents-reload.ts";
import { agentsRender } from "./commands/agents-render.ts";
import { controllerRun } from "./commands/controller-run.ts";
import { failover } from "./commands/failover.ts";
import { iamPolicy } from "./commands/iam-policy.ts";
import { labDemo } from "./commands/lab-demo.ts";
import { labDeploy } from "./commands/lab-deploy.ts";
import { labDestroy } from "./commands/lab-destroy.ts";
import { labEc2Gate } from "./commands/lab-ec2-gate.ts";
import { labFail } from "./commands/lab-fail.ts";
import { labGraphVerb } from "./commands/lab-graph.ts";
import { labHeal } from "./commands/lab-heal.ts";
import { labInspect } from "./commands/lab-inspect.ts";
import { labRouter } from "./commands/lab-router.ts";
import { labStream } from "./commands/lab-stream.ts";
import { labTraffic } from "./commands/lab-traffic.ts";
import { leasesInit } from "./commands/leases.ts";
import { plan } from "./commands/plan.ts";
import { prepare } from "./commands/prepare.ts";
import { pskEnsure } from "./commands/psk-ensure.ts";
import { pskRotate } from "./commands/psk-rotate.ts";
import { explainEc2, type Verb } from "./commands/shared.ts";
import { status } from "./commands/status.ts";
import { tunnelInitiate, tunnelTerminate } from "./commands/tunnel-action.ts";
import { tunnels } from "./commands/tunnels.ts";
import { validate } from "./commands/validate.ts";
import { verify } from "./commands/verify.ts";

/** `swanpair`: the verbs, one file each under commands/, put together in --help's order. */

const VERBS: Verb[] = [validate, verify, prepare, iamPolicy, status, plan, failover, tunnels];
const CONTROLLER_VERBS: Verb[] = [controllerRun];
const LEASES_VERBS: Verb[] = [leasesInit];
/** `swanpair agents ...`: the appliances' agents, from the fleet file. */
const AGENTS_VERBS: Verb[] = [agentsRender, agentsApply, agentsReload];
/** `swanpair tunnel ...`: one tunnel on one appliance. */
const TUNNEL_VERBS: Verb[] = [tunnelInitiate, tunnelTerminate];
/** `swanpair psk ...`: the tunnels' pre-shared keys in SSM Parameter Store. */
const PSK_VERBS: Verb[] = [pskEnsure, pskRotate];
/** `swanpair lab ...`: the failover lab in containers; router and stream run inside its containers. */
const LAB_VERBS: Verb[] = [
  labDemo,
  labDeploy,
  labInspect,
  labGraphVerb,
  labFail,
  labHeal,
  labTraffic,
  labDestroy,
  labRouter,
  labStream,
  labEc2Gate,
];

export function buildProgram(): Command {
  const program = new Command("swanpair")
    .description("Moves VPC routes to the healthy appliance of each swanpair pair")
    .showHelpAfterError()
    .exitOverride();
  for (const verb of VERBS) verb.register(program);
  const groups: Array<[string, string, Verb[]]> = [
    ["controller", "the failover controller", CONTROLLER_VERBS],
    [
      "leases",
      "the DynamoDB lease table that controllers sharing a fleet write through",
      LEASES_VERBS,
    ],
    ["agents", "the appliances' agents, configured from the fleet file", AGENTS_VERBS],
    ["tunnel", "act on one tunnel of one appliance", TUNNEL_VERBS],
    ["psk", "the tunnels' pre-shared keys in SSM Parameter Store", PSK_VERBS],
    ["lab", "the failover lab: VPCs, appliances and real traffic in containers", LAB_VERBS],
  ];
  for (const [name, description, verbs] of groups) {
    const group = program.command(name).description(description);
    for (const verb of verbs) verb.register(group);
  }
  return program;
}

/** Shown by --help; runCli attaches them to their commands. */
const EXAMPLES: Record<string, string[]> = {
  "": ["swanpair validate --config fleet.yaml", "swanpair status --config fleet.yaml --json"],
  ...Object.fromEntries(
    [
      ...VERBS,
      ...CONTROLLER_VERBS,
      ...LEASES_VERBS,
      ...AGENTS_VERBS,
      ...TUNNEL_VERBS,
      ...PSK_VERBS,
      ...LAB_VERBS,
    ].map((v) => [v.path, v.examples]),
  ),
};

export function main(argv: string[]): Promise<number> {
  return runCli(buildProgram(), argv, { examples: EXAMPLES, explain: explainEc2 });
}
