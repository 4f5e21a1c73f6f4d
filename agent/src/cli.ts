import { resolve } from "node:path";
import { Command } from "commander";
import {
  EXIT,
  ExitError,
  emit,
  mustLoad,
  print,
  printReport,
  runCli,
  useColor,
} from "../../common/cli.ts";
import { createLogger } from "../../common/logger.ts";
import { ApiClient } from "./api/client.ts";
import { formatStatus } from "./api/format-status.ts";
import { formatIssue, issueReport } from "./config/format-issues.ts";
import { loadConfigFile } from "./config/load.ts";
import { AgentDaemon } from "./daemon.ts";
import { failures, preflight } from "./preflight/checks.ts";
import { formatChecks, formatPreflightFailure } from "./preflight/format.ts";
import { renderAll, writeRendered } from "./render/index.ts";

const DEFAULT_SOCKET = "/run/swanpair/agent.sock";

/** The config, or exit 2 with its issues (runCli prints them, as JSON under --json). */
async function loadOrExit(file: string) {
  const result = await loadConfigFile(file);
  mustLoad(file, result);
  return result.config;
}

async function socketFrom(opts: { socket?: string; config?: string }): Promise<string> {
  if (opts.socket) return opts.socket;
  if (opts.config) return (await loadOrExit(opts.config)).api.socket;
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
    .command("doctor")
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
    });

  program
    .command("validate")
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
    });

  program
    .command("render")
    .description("show the swanctl.conf and strongswan.conf a config turns into; touches no charon")
    .requiredOption("--config <file>", "agent config (YAML)")
    .option(
      "--out <dir>",
      "write the files (swanctl.conf with its keys, mode 0600) instead of printing them",
    )
    .action(async (opts: { config: string; out?: string; json?: boolean }) => {
      const config = await loadOrExit(opts.config);
      if (opts.out) {
        await writeRendered(opts.out, renderAll(config, { redactSecrets: false }));
        const wrote = ["swanctl.conf", "strongswan.conf"].map((f) => `${opts.out}/${f}`);
        emit(opts.json, { wrote }, () => `wrote ${wrote.join(" and ")}`);
        return;
      }
      // JSON carries the same redacted text, never the keys.
      const { swanctlConf, strongswanConf } = renderAll(config, { redactSecrets: true });
      emit(
        opts.json,
        { swanctlConf, strongswanConf },
        () =>
          `# swanctl.conf (keys redacted; --out writes them)\n${swanctlConf}\n# strongswan.conf\n${strongswanConf}`,
      );
    });

  clientCommand(program, "status", "show the agent's tunnels and charon")
    .option("--json", "print the status as JSON")
    .action(async (opts: { socket?: string; config?: string; json?: boolean }) => {
      const status = await new ApiClient({ socketPath: await socketFrom(opts) }).status();
      print(
        opts.json
          ? JSON.stringify(status, null, 2)
          : formatStatus(status, { now: new Date(), color: useColor() }),
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
      .action(
        async (tunnel: string, opts: { socket?: string; config?: string; json?: boolean }) => {
          await new ApiClient({ socketPath: await socketFrom(opts) })[verb](tunnel);
          emit(opts.json, { ok: true, [verb]: tunnel }, () => `${verb}: ${tunnel}`);
        },
      );
  }
  return program;
}

/** Shown by --help; runCli attaches them to their commands (and adds --json and --version). */
const EXAMPLES: Record<string, string[]> = {
  "": [
    "swanpair-agent validate --config /etc/swanpair/agent.yaml",
    "swanpair-agent status --socket /run/swanpair/a1/agent.sock",
  ],
  run: ["swanpair-agent run --config /etc/swanpair/agent.yaml"],
  doctor: [
    "swanpair-agent doctor --config /etc/swanpair/agent.yaml",
    "swanpair-agent doctor --config /etc/swanpair/agent.yaml --json | jq '.checks[] | select(.status == \"fail\")'",
  ],
  validate: [
    "swanpair-agent validate --config /etc/swanpair/agent.yaml",
    "swanpair-agent validate --config /etc/swanpair/agent.yaml --json | jq '.errors[].path'",
  ],
  render: [
    "swanpair-agent render --config /etc/swanpair/agent.yaml",
    "swanpair-agent render --config /etc/swanpair/agent.yaml --out /tmp/rendered",
  ],
  status: [
    "swanpair-agent status --socket /run/swanpair/a1/agent.sock",
    "swanpair-agent status --config /etc/swanpair/agent.yaml --json",
  ],
  reload: ["swanpair-agent reload --config /etc/swanpair/agent.yaml"],
  initiate: ["swanpair-agent initiate to-b1 --socket /run/swanpair/a1/agent.sock"],
  terminate: ["swanpair-agent terminate to-b1 --socket /run/swanpair/a1/agent.sock"],
};

export function main(argv: string[]): Promise<number> {
  return runCli(buildProgram(), argv, { examples: EXAMPLES });
}
