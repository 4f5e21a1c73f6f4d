import { CHILD_CARRYING, IKE_ALIVE } from "./sa-states.ts";
import type { TunnelStatus } from "./status.ts";

/** The tunnel's CHILD_SA is in the datapath, under a live IKE_SA. */
export function installed(t: Pick<TunnelStatus, "ike" | "child">): boolean {
  return (
    t.ike !== null &&
    IKE_ALIVE.has(t.ike.state) &&
    t.child !== null &&
    CHILD_CARRYING.has(t.child.state)
  );
}

/**
 * Whether the tunnel's CHILD_SA is the one the datapath sends its selectors' traffic into;
 * null when its agent cannot tell. A tunnel can carry while it is down: an installed CHILD_SA
 * whose probe fails takes the traffic into a black hole.
 */
export function carries(t: TunnelStatus): boolean | null {
  if (!installed(t)) return false;
  // An agent older than carrier groups does not report them.
  if (t.group === undefined) return null;
  if (t.group === null) return true;
  return t.group.carrier === null ? null : t.group.carrier === t.name;
}
