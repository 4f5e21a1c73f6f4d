import { carries } from "../../../common/agent-api/carries.ts";
import type { AgentStatus, TunnelStatus } from "../../../common/agent-api/status.ts";
import { type AgentAnswer, reachable } from "./ask-agents.ts";

/**
 * `swanpair tunnels` as data, pure: every asked appliance with its agent's tunnels, or why
 * there are none. `--json` prints this as it is.
 */

/**
 * Whether this tunnel's CHILD_SA is the one the datapath sends its selectors' traffic into, as
 * its agent reports it (carries()): "yes", "no", or null when the agent cannot tell.
 */
export type Carries = "yes" | "no" | null;

export interface TunnelRow extends TunnelStatus {
  carries: Carries;
}

export interface ApplianceTunnels {
  name: string;
  /** The agent answered, even if with an error. */
  reachable: boolean;
  error?: string;
  tunnels: TunnelRow[];
}

export interface TunnelsView {
  appliances: ApplianceTunnels[];
}

/**
 * @param _fleet no longer read: the agents report their carriers (decision 0017). Kept until
 * the lab's callers (control-plane/src/lab/, bench/lab.ts, test/helpers/lab.ts) drop it.
 */
export function tunnelsView(answers: AgentAnswer<AgentStatus>[]): TunnelsView {
  return {
    appliances: answers.map((a) =>
      a.ok
        ? { name: a.appliance, reachable: true, tunnels: a.value.tunnels.map(withCarries) }
        : { name: a.appliance, reachable: reachable(a), error: a.error, tunnels: [] },
    ),
  };
}

/** Why the command exits 1: agents that gave no status, tunnels that are not up. */
export function tunnelsTrouble(view: TunnelsView): string[] {
  const failed = view.appliances.filter((a) => a.error !== undefined);
  const unreachable = failed.filter((a) => !a.reachable).map((a) => a.name);
  const erring = failed.filter((a) => a.reachable).map((a) => a.name);
  const notUp = view.appliances.flatMap((a) =>
    a.tunnels.filter((t) => t.state !== "up").map((t) => `${a.name}/${t.name} ${t.state}`),
  );
  const line = (label: string, items: string[]) =>
    items.length > 0 ? [`${label}: ${items.join(", ")}`] : [];
  return [
    ...line("unreachable agent(s)", unreachable),
    ...line("agent(s) answering an error", erring),
    ...line("tunnel(s) not up", notUp),
  ];
}

function withCarries(t: TunnelStatus): TunnelRow {
  const carrying = carries(t);
  return { ...t, carries: carrying === null ? null : carrying ? "yes" : "no" };
}
