import { CHILD_CARRYING, IKE_ALIVE } from "../../../common/agent-api/sa-states.ts";
import type { ProbeStatus, TunnelState } from "../../../common/agent-api/status.ts";

/** What the agent knows about one tunnel; ike and child are VICI state names or null. */
export interface TunnelObservation {
  ike: string | null;
  child: string | null;
  probe: ProbeStatus;
  /** The agent has asked charon to initiate and not yet seen the outcome. */
  initiating: boolean;
}

export interface DerivedTunnelState {
  state: TunnelState;
  reason: string;
}

export const CHILD_NEGOTIATING: ReadonlySet<string> = new Set([
  "CREATED",
  "INSTALLING",
  "RETRYING",
]);
const IKE_NEGOTIATING = new Set(["CREATED", "CONNECTING"]);

/**
 * `up` needs an installed CHILD_SA under a live IKE_SA and, when a probe is configured,
 * the probe up: SAs alone do not prove that packets pass. tunnel-state.test.ts holds the
 * full table.
 */
export function deriveTunnelState(o: TunnelObservation): DerivedTunnelState {
  const ikeAlive = o.ike !== null && IKE_ALIVE.has(o.ike);
  if (ikeAlive && o.child !== null && CHILD_CARRYING.has(o.child)) {
    const child = `child ${o.child.toLowerCase()}`;
    switch (o.probe.state) {
      case "disabled":
        return { state: "up", reason: `${child}, no probe` };
      case "up":
        return { state: "up", reason: `${child}, probe up` };
      case "unknown":
        return { state: "connecting", reason: `${child}, probe not decided yet` };
      case "down":
        return { state: "down", reason: `${child}, probe down` };
    }
  }
  const sas =
    o.ike === null
      ? "no ike sa"
      : `ike ${o.ike.toLowerCase()}, ${o.child === null ? "no child sa" : `child ${o.child.toLowerCase()}`}`;
  if (o.initiating) return { state: "connecting", reason: `initiating, ${sas}` };
  const negotiating =
    (o.ike !== null && IKE_NEGOTIATING.has(o.ike)) ||
    (ikeAlive && o.child !== null && CHILD_NEGOTIATING.has(o.child));
  return { state: negotiating ? "connecting" : "down", reason: sas };
}
