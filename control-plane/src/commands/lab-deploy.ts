import { EXIT, ExitError, print } from "../../../common/cli.ts";
import { deployLab } from "../lab/deploy.ts";
import { labDryRun } from "../lab/dry-run.ts";
import { LabError } from "../lab/lab-error.ts";
import { progressLine } from "./lab-shared.ts";
import { planOrExit, TOPOLOGY_OPTION } from "./lab-topology.ts";
import type { Verb } from "./shared.ts";

/** `swanpair lab deploy`: a topology file to a running lab. */

export const labDeploy: Verb = {
  path: "lab deploy",
  examples: ["swanpair lab deploy", "swanpair lab deploy -t test/fixtures/labs/hub.yml --dry-run"],
  register: (parent) =>
    parent
      .command("deploy")
      .description(
        "build the image if needed, then start the lab: networks, EC2 API (moto) with its VPCs and instances, VPC routers, appliances with their agents, hosts and the controller; waits until every tunnel is up",
      )
      .option(...TOPOLOGY_OPTION)
      .option("--dry-run", "print what would be made, and make nothing")
      .action(async (opts: { topology: string; dryRun?: boolean }) => {
        const plan = await planOrExit(opts.topology);
        if (opts.dryRun) {
          print(labDryRun(plan));
          return;
        }
        try {
          await deployLab(plan, progressLine());
        } catch (err) {
          if (err instanceof LabError) throw new ExitError(EXIT.failed, err.message);
          throw err;
        }
        print(`lab ${plan.lab} is up: swanpair lab inspect --lab ${plan.lab}`);
      }),
};
