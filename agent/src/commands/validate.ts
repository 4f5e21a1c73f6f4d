import { printReport } from "../../../common/cli.ts";
import { issueReport } from "../config/format-issues.ts";
import { loadConfigFile } from "../config/load.ts";
import type { Verb } from "./verb.ts";

export const validate: Verb = {
  name: "validate",
  examples: [
    "swanpair-agent validate --config /etc/swanpair/agent.yaml",
    "swanpair-agent validate --config /etc/swanpair/agent.yaml --json | jq '.errors[].path'",
  ],
  configure: (command) =>
    command
      .description("check a config and report every problem with its field path")
      .requiredOption("--config <file>", "agent config (YAML)")
      .option("--json", "print the report as JSON")
      .action(async (opts: { config: string; json?: boolean }) => {
        const result = await loadConfigFile(opts.config);
        printReport(issueReport(opts.config, result), opts.json, () => {
          const { tunnels, paths } = result.ok ? result.config : { tunnels: [], paths: [] };
          const counts = [
            `${tunnels.length} tunnels`,
            ...(paths.length ? [`${paths.length} paths`] : []),
          ];
          return `${opts.config}: valid (${counts.join(", ")})`;
        });
      }),
};
