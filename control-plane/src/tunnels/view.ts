import { CHILD_CARRYING, IKE_ALIVE } from "../../../common/agent-api/sa-states.ts";
import type { AgentStatus, TunnelStatus } from "../../../common/agent-api/status.ts";
import type { Fleet } from "../fleet/types.ts";
import { type AgentAnswer, reachable } from "./ask-agents.ts";

/**
 * `swanpair tunnels` as data, pure: every asked appliance with its agent's tunnels, or why
 * there are none. `--json` prints this as it is.
 */

/**
 * Whether this tunnel's CHILD_SA is the one the kernel sends its selectors' traffic into:
 * "yes", "no", or null when the agent's status cannot tell (see withCarries()).
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

export function tunnelsView(fleet: Fleet, answers: AgentAnswer<AgentStatus>[]): TunnelsView {
  return {
    appliances: answers.map((a) =>
      a.ok
        ? { name: a.appliance, reachable: true, tunnels: withCarries(fleet, a.value.tunnels) }
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

const installed = (t: TunnelStatus) =>
  t.ike !== null &&
  IKE_ALIVE.has(t.ike.state) &&
  t.child !== null &&
  CHILD_CARRYING.has(t.child.state);

/**
 * The status has neither selectors nor priorities, so CARRIES is derived from what it has:
 * a tunnel without an installed CHILD_SA carries nothing; one with an installed CHILD_SA
 * carries when no other installed tunnel of the appliance may hold the same selectors.
 * Tunnels are named after the far appliance (docs/fleet-config.md), and the tunnels to one far
 * pair share the far VPC's selectors; a tunnel the fleet does not name may share anyone's.
 * Between rivals the priority decides, which the status does not report: null.
 */
function withCarries(fleet: Fleet, tunnels: TunnelStatus[]): TunnelRow[] {
  const group = (t: TunnelStatus): string | undefined =>
    fleet.pairs.find((p) => p.members.includes(t.name))?.name ??
    fleet.appliances.find((a) => a.name === t.name)?.name;
  const live = tunnels.filter(installed);
  return tunnels.map((t) => {
    if (!installed(t)) return { ...t, carries: "no" };
    const mine = group(t);
    const rivals = live.filter((u) => {
      if (u === t) return false;
      const theirs = group(u);
      return mine === undefined || theirs === undefined || mine === theirs;
    });
    return { ...t, carries: rivals.length === 0 ? "yes" : null };
  });
}
