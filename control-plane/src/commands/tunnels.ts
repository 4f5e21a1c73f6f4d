import { emit, useColor } from "../../../common/cli.ts";
import { askAgents } from "../tunnels/ask-agents.ts";
import { formatTunnels } from "../tunnels/format.ts";
import { tunnelsTrouble, tunnelsView } from "../tunnels/view.ts";
import { exitIfTrouble, selectAppliances } from "./agent-commands.ts";
import { AGENT_TIMEOUT_MS, loadOrExit, type Verb } from "./shared.ts";

/** `swanpair tunnels`: every appliance's tunnels in one table, from each agent's status. */

export const tunnels: Verb = {
  path: "tunnels",
  examples: [
    "swanpair tunnels --config fleet.yaml",
    "swanpair tunnels --config fleet.yaml --appliance a1",
    "swanpair tunnels --config fleet.yaml --json | jq '.appliances[] | select(.reachable | not)'",
  ],
  register: (parent) =>
    parent
      .command("tunnels")
      .description(
        "list every appliance's tunnels (state, IKE and CHILD SAs, which one carries, probe RTT and loss) from their agents, asked at once (read-only); exits 1 when an agent cannot be read or a tunnel is not up",
      )
      .requiredOption("--config <file>", "fleet config (YAML)")
      .option("--appliance <name>", "only this appliance's tunnels")
      .option("--json", "print as JSON")
      .action(async (opts: { config: string; appliance?: string; json?: boolean }) => {
        const fleet = await loadOrExit(opts.config);
        const appliances = selectAppliances(fleet, opts.appliance);
        const answers = await askAgents(fleet, appliances, (api) => api.status(), AGENT_TIMEOUT_MS);
        const view = tunnelsView(answers);
        emit(opts.json, view, () => formatTunnels(view, { now: new Date(), color: useColor() }));
        exitIfTrouble("tunnels", tunnelsTrouble(view), opts.json);
      }),
};
