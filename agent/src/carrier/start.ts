import { IKE_ALIVE } from "../../../common/agent-api/sa-states.ts";
import { probeChildName } from "../config/probe-child.ts";
import type { ResolvedConfig, ResolvedTunnel } from "../config/types.ts";
import type { SaObservation } from "../health/sa-state.ts";
import type { ViciMessage } from "../vici/message.ts";

/**
 * Who starts a tunnel's main CHILD_SA under libipsec (decision 0017, "Which end starts").
 * charon, as the responder of a new CHILD_SA, installs it (outbound too) before its answer
 * leaves, and libipsec sends into the newest at once: when the responder already carries
 * traffic for those selectors, its next packets reach an initiator that has no inbound SA yet.
 * The end that comes back (a restarted appliance) carries nothing yet and makes the IKE_SA;
 * so its main CHILD_SA is started by the other end's agent, which then installs last, after
 * its peer could receive. Without a probe the far end may not run an agent: charon starts it.
 */
export function agentStartsMain(tunnel: ResolvedTunnel, datapath: ResolvedConfig["datapath"]) {
  return datapath === "libipsec" && tunnel.startAction === "start" && tunnel.probe !== undefined;
}

/** How long the end that made the IKE_SA waits for the far agent before it starts the child. */
export const FAR_START_GRACE_S = 3;

/**
 * Whether this end may start the main CHILD_SA of a tunnel that has none, over its IKE_SA: at
 * once when the far end made the IKE_SA; after FAR_START_GRACE_S when this end made it (a far
 * end without a working agent). Never without an IKE_SA (charon makes it, with the probe's
 * CHILD_SA), nor while it is being negotiated or torn down.
 */
export function mayStartMain(sa: SaObservation, graceS = FAR_START_GRACE_S): boolean {
  const { ike } = sa;
  if (ike === null || !IKE_ALIVE.has(ike.state)) return false;
  return !ike.initiator || (ike.establishedS ?? 0) >= graceS;
}

/**
 * The CHILD_SA to initiate for a tunnel that should be up (start_action=start) and has no main
 * CHILD_SA, if any: the main one; where the agent starts it, the probe's while there is no
 * IKE_SA (what charon's start_action starts) and then the main one once mayStartMain allows.
 */
export function childToStart(
  tunnel: ResolvedTunnel,
  sa: SaObservation,
  datapath: ResolvedConfig["datapath"],
): string | undefined {
  if (tunnel.startAction !== "start" || sa.child !== null) return undefined;
  if (agentStartsMain(tunnel, datapath)) {
    if (sa.ike === null) return probeChildName(tunnel.name);
    return mayStartMain(sa) ? tunnel.name : undefined;
  }
  // One being negotiated is left to charon.
  return sa.ike !== null && !IKE_ALIVE.has(sa.ike.state) ? undefined : tunnel.name;
}

/**
 * The agent-started tunnels whose main CHILD_SA config a reload changed (new subnets, say): a
 * CHILD_SA keeps the selectors it was negotiated with, so it must be made again. charon does
 * that itself, on load-conn, for a child with start_action=start (it terminates the CHILD_SAs
 * of a replaced child config and initiates the new one); the agent does it for the ones it
 * starts, by terminating them, and childToStart() makes them again.
 */
export function changedMainChildren(
  tunnels: readonly ResolvedTunnel[],
  datapath: ResolvedConfig["datapath"],
  before: Record<string, ViciMessage>,
  after: Record<string, ViciMessage>,
): string[] {
  const main = (conns: Record<string, ViciMessage>, name: string) =>
    JSON.stringify((conns[name]?.children as Record<string, ViciMessage> | undefined)?.[name]);
  return tunnels
    .filter((t) => agentStartsMain(t, datapath) && before[t.name] !== undefined)
    .filter((t) => main(before, t.name) !== main(after, t.name))
    .map((t) => t.name);
}
