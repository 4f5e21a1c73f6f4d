import { resolve } from "node:path";
import { EXIT, ExitError } from "../../../common/cli.ts";
import { createLogger } from "../../../common/logger.ts";
import { AgentDaemon } from "../daemon.ts";
import { failures, preflight } from "../preflight/checks.ts";
import { formatPreflightFailure } from "../preflight/format.ts";
import { loadOrExit } from "./config-arg.ts";
import type { Verb } from "./verb.ts";

export const run: Verb = {
  name: "run",
  examples: ["swanpair-agent run --config /etc/swanpair/agent.yaml"],
  configure: (command) =>
    command
      .description(
        "run the agent: supervise charon, apply the config, probe tunnels and paths, serve the API",
      )
      .requiredOption("--config <file>", "agent config (YAML)")
      .action(async (opts: { config: string }) => {
        const configPath = resolve(opts.config);
        const config = await loadOrExit(configPath);
        const failed = failures(await preflight(config));
        if (failed.length > 0) {
          const lines = formatPreflightFailure(failed, configPath);
          throw new ExitError(EXIT.failed, lines.join("\n"), "SWP_ERR_PREFLIGHT");
        }
        const logger = createLogger({ name: "swanpair-agent", level: config.log.level });
        const daemon = new AgentDaemon({ configPath, logger });
        await daemon.start(config);
        await new Promise<void>((done) => {
          process.on("SIGHUP", () => {
            daemon.reload().then(
              (r) =>
                logger.info(
                  { ok: r.ok, generation: r.generation, error: r.error },
                  "SIGHUP reload",
                ),
              (error) => logger.error({ err: error }, "SIGHUP reload failed"),
            );
          });
          const shutdown = (signal: string) => {
            logger.info({ signal }, "shutting down");
            daemon.stop().then(done, done);
          };
          process.once("SIGTERM", () => shutdown("SIGTERM"));
          process.once("SIGINT", () => shutdown("SIGINT"));
        });
      }),
};
