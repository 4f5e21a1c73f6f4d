import { EXIT, ExitError, emit, printErr } from "../../../common/cli.ts";
import { manualFailover } from "../controller/manual-failover.ts";
import { AGENT_TIMEOUT_MS, loadOrExit, type Verb, withEc2 } from "./shared.ts";

/** `swanpair failover CONNECTION --to APPLIANCE`: an operator's move, waited on until EC2 shows it. */

interface FailoverOptions {
  config: string;
  to: string;
  force?: boolean;
  timeout: string;
  json?: boolean;
}

export const failover: Verb = {
  path: "failover",
  examples: ["swanpair failover a-b --to a2 --config fleet.yaml --timeout 60"],
  register: (parent) =>
    parent
      .command("failover")
      .description(
        "move a connection side's routes to APPLIANCE now, with the next fence epoch, and wait until EC2 shows them all there",
      )
      .argument("<connection>", "connection name")
      .requiredOption("--to <appliance>", "the member to move to")
      .requiredOption("--config <file>", "fleet config (YAML)")
      .option("--force", "move even if the target does not look healthy")
      .option("--timeout <seconds>", "give up waiting after this long", "120")
      .action(async (connection: string, opts: FailoverOptions) => {
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
      }),
};
