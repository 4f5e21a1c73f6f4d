import { resolve } from "node:path";
import { Command } from "commander";
import { EXIT, ExitError, print, runCli } from "../../common/cli.ts";
import { createLogger } from "../../common/logger.ts";
import { ApiClient } from "./api/client.ts";
import { formatStatus } from "./api/format-status.ts";
import { formatIssue, formatLoadResult, issueReport } from "./config/format-issues.ts";
import { loadConfigFile } from "./config/load.ts";
import { AgentDaemon } from "./daemon.ts";
import { renderAll, writeRendered } from "./render/index.ts";

const DEFAULT_SOCKET = "/run/swanpair/agent.sock";

async function loadOrExit(file: string, json: boolean) {
  const result = await loadConfigFile(file);
  if (!result.ok) {
    if (json) print(JSON.stringify(issueReport(file, result), null, 2));
    else for (const line of formatLoadResult(file, result)) process.stderr.write(`${line}\n`);
    throw new ExitError(EXIT.usage);
  }
  for (const line of formatLoadResult(file, result)) process.stderr.write(`${line}\n`);
  return result.config;
}

async function socketFrom(opts: { socket?: string; config?: string }): Promise<string> {
  if (opts.socket) return opts.socket;
  if (opts.config) return (await loadOrExit(opts.config, false)).api.socket;
  return process.env.SWANPAIR_AGENT_SOCKET ?? DEFAULT_SOCKET;
}

function clientCommand(program: Command, name: string, description: string) {
  return program
    .command(name)
    .description(description)
    .option(
      "--socket <path>",
      `agent API socket (default: $SWANPAIR_AGENT_SOCKET or ${DEFAULT_SOCKET})`,
    )
    .option("--config <file>", "take the socket path from this agent config");
}

export function buildProgram(): Command {
  const program = new Command("swanpair-agent")
    .description("Runs strongSwan on a swanpair VPN appliance from a declarative config")
    .showHelpAfterError()
    .exitOverride();

  program
    .command("run")
    .description(
      "run the agent: supervise charon, apply the config, probe tunnels and paths, serve the API",
    )
    .requiredOption("--config <file>", "agent config (YAML)")
    .action(async (opts: { config: string }) => {
      const configPath = resolve(opts.config);
      const config = await loadOrExit(configPath, false);
      const logger = createLogger({ name: "swanpair-agent", level: config.log.level });
      const daemon = new AgentDaemon({ configPath, logger });
      await daemon.start(config);
      await new Promise<void>((done) => {
        process.on("SIGHUP", () => {
          daemon.reload().then(
            (r) =>
              logger.info({ ok: r.ok, generation: r.generation, error: r.error }, "SIGHUP reload"),
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
    });

  program
    .command("validate")
    .description("check a config and report every problem with its field path")
    .requiredOption("--config <file>", "agent config (YAML)")
    .option("--json", "print the report as JSON")
    .action(async (opts: { config: string; json?: boolean }) => {
      const result = await loadConfigFile(opts.config);
      if (opts.json) print(JSON.stringify(issueReport(opts.config, result), null, 2));
      else {
        for (const line of formatLoadResult(opts.config, result)) process.stderr.write(`${line}\n`);
        if (result.ok) {
          const { tunnels, paths } = result.config;
          const counts = [
            `${tunnels.length} tunnels`,
            ...(paths.length ? [`${paths.length} paths`] : []),
          ];
          print(`${opts.config}: valid (${counts.join(", ")})`);
        }
      }
      if (!result.ok) throw new ExitError(EXIT.usage);
    });

  program
    .command("render")
    .description("show the swanctl.conf and strongswan.conf a config turns into; touches no charon")
    .requiredOption("--config <file>", "agent config (YAML)")
    .option(
      "--out <dir>",
      "write the files (swanctl.conf with its keys, mode 0600) instead of printing them",
    )
    .action(async (opts: { config: string; out?: string }) => {
      const config = await loadOrExit(opts.config, false);
      if (opts.out) {
        await writeRendered(opts.out, renderAll(config, { redactSecrets: false }));
        print(`wrote ${opts.out}/swanctl.conf and ${opts.out}/strongswan.conf`);
        return;
      }
      const rendered = renderAll(config, { redactSecrets: true });
      print(`# swanctl.conf (keys redacted; --out writes them)\n${rendered.swanctlConf}`);
      print(`# strongswan.conf\n${rendered.strongswanConf}`);
    });

  clientCommand(program, "status", "show the agent's tunnels and charon")
    .option("--json", "print the status as JSON")
    .action(async (opts: { socket?: string; config?: string; json?: boolean }) => {
      const status = await new ApiClient({ socketPath: await socketFrom(opts) }).status();
      print(
        opts.json
          ? JSON.stringify(status, null, 2)
          : formatStatus(status, { now: new Date(), color: process.stdout.isTTY }),
      );
    });

  clientCommand(program, "reload", "re-read the config and apply what changed (like SIGHUP)")
    .option("--json", "print the result as JSON")
    .action(async (opts: { socket?: string; config?: string; json?: boolean }) => {
      const result = await new ApiClient({ socketPath: await socketFrom(opts) }).reload();
      if (opts.json) print(JSON.stringify(result, null, 2));
      else if (result.ok) {
        print(
          `generation ${result.generation}: loaded ${result.loaded.length}, unloaded ${result.unloaded.length}, unchanged ${result.unchanged.length}`,
        );
      } else {
        for (const i of result.issues ?? []) process.stderr.write(`${formatIssue(undefined, i)}\n`);
        process.stderr.write(
          `reload rejected: ${result.error ?? "invalid config"}; nothing changed\n`,
        );
      }
      if (!result.ok) throw new ExitError(result.issues?.length ? EXIT.usage : EXIT.failed);
    });

  for (const verb of ["initiate", "terminate"] as const) {
    clientCommand(program, verb, `${verb} a tunnel's IKE and CHILD SAs`)
      .argument("<tunnel>", "tunnel name")
      .action(async (tunnel: string, opts: { socket?: string; config?: string }) => {
        await new ApiClient({ socketPath: await socketFrom(opts) })[verb](tunnel);
        print(`${verb}: ${tunnel}`);
      });
  }
  return program;
}

export function main(argv: string[]): Promise<number> {
  return runCli(buildProgram(), argv);
}
