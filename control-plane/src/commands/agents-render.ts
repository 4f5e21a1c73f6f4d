import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../../common/atomic-write.ts";
import { ConfigInvalidError, emit } from "../../../common/cli.ts";
import { issueReport } from "../../../common/yaml-config.ts";
import { renderAgentConfigs } from "../agents-config/render.ts";
import { readVpnConnections } from "../agents-config/vpn-connections.ts";
import type { Fleet } from "../fleet/types.ts";
import { applianceOrExit } from "./agent-commands.ts";
import { loadOrExit, type Verb } from "./shared.ts";

/** `swanpair agents render`: each appliance's agent config, derived from the fleet file. */

/**
 * Every appliance's rendered config (or one's), with the VPN connections of its aws-vpn
 * connections read from EC2; a fleet that lacks facts exits 2.
 */
export async function renderOrExit(fleet: Fleet, file: string, appliance: string | undefined) {
  if (appliance !== undefined) applianceOrExit(fleet, appliance);
  const names = appliance === undefined ? fleet.appliances.map((a) => a.name) : [appliance];
  const { vpns, issues } = await readVpnConnections(fleet, names);
  const result =
    issues.length > 0
      ? { ok: false as const, issues }
      : renderAgentConfigs(fleet, { ...(appliance !== undefined && { appliance }), vpns });
  // The fleet is valid for the controller, but lacks what the configs need: where to add it.
  if (!result.ok)
    throw new ConfigInvalidError(
      issueReport(file, { ok: false, issues: result.issues, warnings: [] }),
    );
  return result.configs;
}

interface RenderOptions {
  config: string;
  appliance?: string;
  out?: string;
  json?: boolean;
}

export const agentsRender: Verb = {
  path: "agents render",
  examples: [
    "swanpair agents render --config fleet.yaml",
    "swanpair agents render --config fleet.yaml --appliance a1 > /etc/swanpair/agent.yaml",
    "swanpair agents render --config fleet.yaml --out /tmp/agents",
  ],
  register: (parent) =>
    parent
      .command("render")
      .description(
        "write each appliance's agent config as the fleet file implies it: the tunnel mesh, probes, paths and key names; as YAML documents on stdout, or one file per appliance with --out",
      )
      .requiredOption("--config <file>", "fleet config (YAML)")
      .option("--appliance <name>", "only this appliance's config")
      .option("--out <dir>", "write <dir>/<appliance>.yaml (mode 0644: they hold no keys)")
      .action(async (opts: RenderOptions) => {
        const fleet = await loadOrExit(opts.config);
        const configs = await renderOrExit(fleet, opts.config, opts.appliance);
        const { out } = opts;
        if (out === undefined) {
          emit(
            opts.json,
            configs.map(({ appliance, config }) => ({ appliance, config })),
            () => configs.map((c) => c.yaml).join("---\n"),
          );
          return;
        }
        await mkdir(out, { recursive: true });
        const wrote = configs.map((c) => join(out, `${c.appliance}.yaml`));
        await Promise.all(
          configs.map((c, i) => writeFileAtomic(wrote[i] as string, c.yaml, 0o644)),
        );
        emit(opts.json, { wrote }, () => wrote.map((f) => `wrote ${f}`).join("\n"));
      }),
};
