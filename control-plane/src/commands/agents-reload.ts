import { emit, useColor } from "../../../common/cli.ts";
import { askAgents } from "../tunnels/ask-agents.ts";
import { formatReload, reloadTrouble, reloadView } from "../tunnels/reload-view.ts";
import {
  ACT_TIMEOUT_MS,
  exitIfTrouble,
  type OperatorCertOptions,
  operatorCertOptions,
  selectAppliances,
  withOperatorCert,
} from "./agent-commands.ts";
import { loadOrExit, type Verb } from "./shared.ts";

/** `swanpair agents reload [APPLIANCE]`: each agent re-reads its config file, all at once. */

export const agentsReload: Verb = {
  path: "agents reload",
  examples: [
    "swanpair agents reload --config fleet.yaml --tls-cert alice.pem --tls-key alice.key",
    "swanpair agents reload a1 --config fleet.yaml",
  ],
  register: (parent) =>
    operatorCertOptions(
      parent
        .command("reload")
        .description(
          "have every agent (or APPLIANCE's) re-read its config file and apply what changed, as SIGHUP does; one row per appliance; exits 1 when any agent could not be reached, refused, or rejected its config",
        )
        .argument("[appliance]", "only this appliance's agent")
        .requiredOption("--config <file>", "fleet config (YAML)"),
    ).action(
      async (
        name: string | undefined,
        opts: OperatorCertOptions & { config: string; json?: boolean },
      ) => {
        const fleet = await withOperatorCert(await loadOrExit(opts.config), opts);
        const appliances = selectAppliances(fleet, name);
        const answers = await askAgents(fleet, appliances, (api) => api.reload(), ACT_TIMEOUT_MS);
        const view = reloadView(answers);
        emit(opts.json, view, () => formatReload(view, { color: useColor() }));
        exitIfTrouble("agents reload", reloadTrouble(view), opts.json);
      },
    ),
};
