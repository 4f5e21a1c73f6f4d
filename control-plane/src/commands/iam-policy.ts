import { printJson } from "../../../common/cli.ts";
import { appliancePolicy } from "../iam/appliance-policy.ts";
import { controllerPolicy } from "../iam/policy.ts";
import { applianceOrExit } from "./agent-commands.ts";
import { keyPrefixOrExit } from "./psk-shared.ts";
import { loadOrExit, type Verb } from "./shared.ts";

/** `swanpair iam-policy`: the controller's least-privilege policy, or an appliance's, as JSON. */

export const iamPolicy: Verb = {
  path: "iam-policy",
  examples: [
    "swanpair iam-policy --config fleet.yaml > policy.json",
    "swanpair iam-policy --appliance a1 --config fleet.yaml > a1-policy.json",
  ],
  register: (parent) =>
    parent
      .command("iam-policy")
      .description(
        "print the least-privilege IAM policy (JSON) for the fleet's controller, or with --appliance for that appliance's instance role (its own keys in SSM)",
      )
      .requiredOption("--config <file>", "fleet config (YAML)")
      .option("--appliance <name>", "the policy of this appliance's instance role instead")
      .action(async (opts: { config: string; appliance?: string }) => {
        const fleet = await loadOrExit(opts.config);
        if (opts.appliance === undefined) {
          // JSON either way; --json (added by runCli) makes errors JSON too.
          printJson(controllerPolicy(fleet));
          return;
        }
        const { name } = applianceOrExit(fleet, opts.appliance);
        printJson(appliancePolicy(fleet, keyPrefixOrExit(fleet), name));
      }),
};
