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

/**
 * CHILD_SA states whose SAs are in the kernel and carry traffic. REKEYING forwards on the
 * old SA until the new one is installed. REKEYED (the peer rekeyed it) appears only once
 * the replacement is installed, and the old SA keeps the outbound direction until the
 * peer's delete arrives. UPDATING is MOBIKE moving an installed SA to new addresses.
 * DELETING does not count: whatever replaces it is reported on its own.
 */
export const CHILD_CARRYING: ReadonlySet<string> = new Set([
  "INSTALLED",
  "REKEYING",
  "REKEYED",
  "UPDATING",
]);
const CHILD_NEGOTIATING = new Set(["CREATED", "INSTALLING", "RETRYING"]);
/** An IKE_SA being rekeyed still owns its children; one that is DELETING takes them along. */
export const IKE_ALIVE: ReadonlySet<string> = new Set(["ESTABLISHED", "REKEYING"]);
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
