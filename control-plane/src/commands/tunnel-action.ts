import { emit } from "../../../common/cli.ts";
import { SwpError } from "../../../common/errors.ts";
import { askAgent } from "../tunnels/ask-agents.ts";
import {
  ACT_TIMEOUT_MS,
  applianceOrExit,
  type OperatorCertOptions,
  operatorCertOptions,
  withOperatorCert,
} from "./agent-commands.ts";
import { loadOrExit, type Verb } from "./shared.ts";

/** `swanpair tunnel initiate|terminate APPLIANCE TUNNEL`: the two differ only in the call. */

const WHAT = {
  initiate: {
    description:
      "have APPLIANCE's agent initiate TUNNEL (its CHILD_SA, and an IKE_SA when there is none); charon brings it up in the background: watch it with swanpair tunnels",
    done: "initiating (charon brings it up in the background)",
  },
  terminate: {
    description:
      "have APPLIANCE's agent close TUNNEL's CHILD_SA, at both ends (the IKE_SA stays); a tunnel with startAction start is initiated again within 5 s, by either end's agent",
    done: "terminated",
  },
} as const;

function tunnelAction(action: "initiate" | "terminate"): Verb {
  return {
    path: `tunnel ${action}`,
    examples: [
      `swanpair tunnel ${action} a1 b1 --config fleet.yaml`,
      `swanpair tunnel ${action} a1 b1 --config fleet.yaml --tls-cert alice.pem --tls-key alice.key`,
    ],
    register: (parent) =>
      operatorCertOptions(
        parent
          .command(action)
          .description(WHAT[action].description)
          .argument("<appliance>", "the appliance whose agent acts")
          .argument("<tunnel>", "the tunnel's name there (by convention the far appliance's)")
          .requiredOption("--config <file>", "fleet config (YAML)"),
      ).action(
        async (
          name: string,
          tunnel: string,
          opts: OperatorCertOptions & { config: string; json?: boolean },
        ) => {
          const fleet = await withOperatorCert(await loadOrExit(opts.config), opts);
          const appliance = applianceOrExit(fleet, name);
          const answer = await askAgent(
            fleet,
            appliance,
            (api) => api[action](tunnel),
            ACT_TIMEOUT_MS,
          );
          if (!answer.ok) throw new SwpError(answer.code, `${name}: ${answer.error}`);
          emit(
            opts.json,
            { ok: true, appliance: name, tunnel, action },
            () => `${name}: ${tunnel}: ${WHAT[action].done}`,
          );
        },
      ),
  };
}

export const tunnelInitiate = tunnelAction("initiate");
export const tunnelTerminate = tunnelAction("terminate");
