import { emit } from "../../../common/cli.ts";
import { renderAll, writeRendered } from "../render/index.ts";
import { loadOrExit } from "./config-arg.ts";
import type { Verb } from "./verb.ts";

export const render: Verb = {
  name: "render",
  examples: [
    "swanpair-agent render --config /etc/swanpair/agent.yaml",
    "swanpair-agent render --config /etc/swanpair/agent.yaml --out /tmp/rendered",
  ],
  configure: (command) =>
    command
      .description(
        "show the swanctl.conf and strongswan.conf a config turns into; touches no charon",
      )
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
      }),
};
