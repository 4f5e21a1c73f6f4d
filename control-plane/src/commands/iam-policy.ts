import { printJson } from "../../../common/cli.ts";
import { controllerPolicy } from "../iam/policy.ts";
import { loadOrExit, type Verb } from "./shared.ts";

/** `swanpair iam-policy`: the controller's least-privilege policy, as JSON. */

export const iamPolicy: Verb = {
  path: "iam-policy",
  examples: ["swanpair iam-policy --config fleet.yaml > policy.json"],
  register: (parent) =>
    parent
      .command("iam-policy")
      .description("print the least-privilege IAM policy (JSON) for the fleet's controller")
      .requiredOption("--config <file>", "fleet config (YAML)")
      .action(async (opts: { config: string }) => {
        const fleet = await loadOrExit(opts.config);
        // JSON either way; --json (added by runCli) makes errors JSON too.
        printJson(controllerPolicy(fleet));
      }),
};
