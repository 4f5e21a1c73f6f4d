import { EXIT, ExitError } from "../../../common/cli.ts";
import { discoverFromEnv } from "../../../common/imds/discover.ts";
import { createLogger, type Logger } from "../../../common/logger.ts";
import { runController } from "../controller/run.ts";
import { discoverSelf, SELF_AUTO } from "../controller/self-from-imds.ts";
import { parseListen } from "../controller/server.ts";
import type { Fleet } from "../fleet/types.ts";
import { loadOrExit, memberOrExit, type Verb } from "./shared.ts";

/** `swanpair controller run`: the control loop as a long-running process. */

export const controllerRun: Verb = {
  path: "controller run",
  examples: [
    "swanpair controller run --config /etc/swanpair/fleet.yaml",
    "swanpair controller run --config /etc/swanpair/fleet.yaml --self a1 --listen 127.0.0.1:9470",
    "swanpair controller run --config /etc/swanpair/fleet.yaml --self auto",
  ],
  register: (parent) =>
    parent
      .command("run")
      .description(
        "run the control loop: every failover.intervalMs read EC2 and the agents, decide, and write routes; serves /v1/status and /metrics",
      )
      .requiredOption("--config <file>", "fleet config (YAML)")
      .option(
        "--self <appliance>",
        "co-located mode: run on this appliance and only ever claim routes for it; auto: the appliance whose instanceId is this EC2 instance's (IMDSv2)",
      )
      .option("--listen <host:port>", "status and metrics endpoint", "127.0.0.1:9470")
      .action(async (opts: { config: string; self?: string; listen: string }) => {
        const fleet = await loadOrExit(opts.config);
        let listen: ReturnType<typeof parseListen>;
        try {
          listen = parseListen(opts.listen);
        } catch (err) {
          throw new ExitError(EXIT.usage, (err as Error).message);
        }
        const logger = createLogger({ name: "swanpair-controller" });
        const self = opts.self === SELF_AUTO ? await selfOrExit(fleet, logger) : opts.self;
        if (self !== undefined) memberOrExit(fleet, self);
        await runController({
          file: opts.config,
          fleet,
          self,
          listen,
          logger,
        });
      }),
};

/** `--self auto`: once, at start; a reload keeps the appliance found here. */
async function selfOrExit(fleet: Fleet, logger: Logger): Promise<string> {
  const found = await discoverSelf(fleet, discoverFromEnv);
  if (!found.ok) throw new ExitError(EXIT.usage, found.problem);
  const { instanceId, availabilityZone } = found.instance;
  logger.info({ self: found.name, instanceId, availabilityZone }, "--self auto: found in IMDS");
  return found.name;
}
