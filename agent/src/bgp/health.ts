import type { DerivedTunnelState } from "../health/tunnel-state.ts";
import type { NeighborState } from "./frr.ts";

/**
 * A BGP tunnel to AWS carries only what its session learned: it is up when its SAs (and probe)
 * say so, its session is Established and AWS's prefixes arrived (issue 11); else connecting.
 */
export function withBgp(
  derived: DerivedTunnelState,
  bgp: NeighborState | undefined,
): DerivedTunnelState {
  if (derived.state !== "up") return derived;
  if (bgp?.state === "Established" && bgp.prefixesReceived > 0) {
    return { state: "up", reason: `${derived.reason}, bgp established` };
  }
  const why =
    bgp === undefined
      ? "bgp not answering"
      : bgp.state === "Established"
        ? "bgp established, no prefixes yet"
        : `bgp ${bgp.state.toLowerCase()}`;
  return { state: "connecting", reason: `${derived.reason}, ${why}` };
}
