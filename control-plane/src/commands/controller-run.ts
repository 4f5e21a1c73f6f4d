import { EXIT, ExitError } from "../../../common/cli.ts";
import { createLogger } from "../../../common/logger.ts";
import { runController } from "../controller/run.ts";
import { parseListen } from "../controller/server.ts";
import { loadOrExit, memberOrExit, type Verb } from "./shared.ts";

/** `swanpair controller run`: the control loop as a long-running process. */

export const controllerRun: Verb = {
  path: "controller run",
  examples: [
    "swanpair controller run --config /etc/swanpair/fleet.yaml",
    "swanpair controller run --config /etc/swanpair/fleet.yaml --self a1 --listen 127.0.0.1:9470",
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
        "co-located mode: run on this appliance and only ever claim routes for it",
      )
      .option("--listen <host:port>", "status and metrics endpoint", "127.0.0.1:9470")
      .action(async (opts: { config: string; self?: string; listen: string }) => {
        const fleet = await loadOrExit(opts.config);
        if (opts.self !== undefined) memberOrExit(fleet, opts.self);
        let listen: ReturnType<typeof parseListen>;
        try {
          listen = parseListen(opts.listen);
        } catch (err) {
          throw new ExitError(EXIT.usage, (err as Error).message);
        }
        await runController({
          file: opts.config,
          fleet,
          self: opts.self,
          listen,
          logger: createLogger({ name: "swanpair-controller" }),
        });
      }),
};
