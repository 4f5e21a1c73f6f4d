import { EXIT, ExitError, emit } from "../../../common/cli.ts";
import { failures, preflight } from "../preflight/checks.ts";
import { formatChecks } from "../preflight/format.ts";
import { loadOrExit } from "./config-arg.ts";
import type { Verb } from "./verb.ts";

export const doctor: Verb = {
  name: "doctor",
  examples: [
    "swanpair-agent doctor --config /etc/swanpair/agent.yaml",
    "swanpair-agent doctor --config /etc/swanpair/agent.yaml --json | jq '.checks[] | select(.status == \"fail\")'",
  ],
  configure: (command) =>
    command
      .description(
        "check that this machine can run the config: charon, its plugins, /dev/net/tun or the kernel's IPsec, the state directory",
      )
      .requiredOption("--config <file>", "agent config (YAML)")
      .option("--json", "print every check with its result as JSON")
      .action(async (opts: { config: string; json?: boolean }) => {
        const checks = await preflight(await loadOrExit(opts.config));
        const ok = failures(checks).length === 0;
        emit(opts.json, { ok, checks }, () => formatChecks(checks));
        if (!ok) throw new ExitError(EXIT.failed);
      }),
};
