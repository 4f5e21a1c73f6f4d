import type { Counter, Registry } from "prom-client";
import { carries } from "../../common/agent-api/carries.ts";
import type {
  AgentStatus,
  PathStatus,
  ReloadResult,
  TunnelState,
} from "../../common/agent-api/status.ts";
import { metricsRegistry } from "../../common/metrics.ts";
import type { CarrierAction } from "./carrier/decide.ts";

const TUNNEL_STATES: readonly TunnelState[] = ["up", "down", "connecting"];
const PATH_STATES: readonly PathStatus["state"][] = ["up", "down", "unknown"];

export type ReloadOutcome = "ok" | "rejected" | "failed";

/** Rejected: validation refused the new config (issues listed). Failed: it was valid but applying it went wrong. */
export function reloadOutcome(result: ReloadResult): ReloadOutcome {
  if (result.ok) return "ok";
  return result.issues && result.issues.length > 0 ? "rejected" : "failed";
}

export interface AgentMetrics {
  registry: Registry;
  /** Count every reload attempt: `reloads.inc({ result: reloadOutcome(r) })`, or "failed" if reload threw. */
  reloads: Counter<"result">;
  /** Count every carrier action started (decision 0017): `carrierActions.inc({ action: "rekey" })`. */
  carrierActions: Counter<"action">;
  /**
   * Refresh the gauges from a status snapshot; call before each scrape.
   * Also advances swanpair_charon_restarts_total from status.charon.restarts, so
   * the restart count has one source of truth (the supervisor) and is never incremented here twice.
   */
  update(status: AgentStatus): void;
}

export function createMetrics(): AgentMetrics {
  const { registry, counter, gauge } = metricsRegistry("swanpair_", "lean");

  const reloads = counter(
    "swanpair_reloads_total",
    "Configuration reloads by outcome (ok, rejected by validation, failed while applying)",
    ["result"],
  );
  // Pre-create every outcome so rate() sees a zero before the first reload of a kind.
  for (const result of ["ok", "rejected", "failed"] satisfies ReloadOutcome[]) {
    reloads.inc({ result }, 0);
  }
  const carrierActions = counter(
    "swanpair_carrier_actions_total",
    "Actions the agent started to make a carrier group's wanted tunnel carry (initiate, rekey)",
    ["action"],
  );
  for (const action of ["initiate", "rekey"] satisfies CarrierAction["kind"][]) {
    carrierActions.inc({ action }, 0);
  }
  const charonRestarts = counter(
    "swanpair_charon_restarts_total",
    "Times the agent restarted charon after it exited",
  );
  const tunnelUp = gauge(
    "swanpair_tunnel_up",
    "1 when the tunnel is up (child SA installed and probe passing), else 0",
    ["tunnel"],
  );
  const tunnelState = gauge(
    "swanpair_tunnel_state",
    "Tunnel state, one-hot: 1 for the current state, 0 for the others",
    ["tunnel", "state"],
  );
  const tunnelCarries = gauge(
    "swanpair_tunnel_carries",
    "1 when the tunnel's CHILD_SA is the one its selectors' traffic is sent into, else 0 (absent when the agent cannot tell)",
    ["tunnel"],
  );
  const probeRtt = gauge(
    "swanpair_probe_rtt_seconds",
    "Mean probe round-trip time over the recent window (absent when nothing came back)",
    ["tunnel"],
  );
  const probeLoss = gauge(
    "swanpair_probe_loss_ratio",
    "Fraction 0..1 of recent probes that got no answer (absent when probing is disabled)",
    ["tunnel"],
  );
  const bgpEstablished = gauge(
    "swanpair_bgp_session_established",
    "1 when the aws-vpn tunnel's BGP session is Established, else 0 (BGP tunnels only)",
    ["tunnel"],
  );
  const bgpPrefixes = gauge(
    "swanpair_bgp_prefixes_received",
    "Prefixes bgpd accepted over the aws-vpn tunnel's session (BGP tunnels only)",
    ["tunnel"],
  );
  const pathUp = gauge(
    "swanpair_path_up",
    "1 when the path probe through the VPC's routes is up, else 0",
    ["path"],
  );
  const pathState = gauge(
    "swanpair_path_state",
    "Path probe state, one-hot: 1 for the current state, 0 for the others",
    ["path", "state"],
  );
  const pathRtt = gauge(
    "swanpair_path_rtt_seconds",
    "Mean path probe round-trip time over the recent window (absent when nothing came back)",
    ["path"],
  );
  const pathLoss = gauge(
    "swanpair_path_loss_ratio",
    "Fraction 0..1 of recent path probes that got no answer",
    ["path"],
  );
  const charonUp = gauge("swanpair_charon_up", "1 when charon is running, else 0");
  const configGeneration = gauge(
    "swanpair_config_generation",
    "Generation of the configuration currently loaded",
  );
  const perTunnel = [
    tunnelUp,
    tunnelState,
    tunnelCarries,
    probeRtt,
    probeLoss,
    bgpEstablished,
    bgpPrefixes,
  ];
  const perPath = [pathUp, pathState, pathRtt, pathLoss];

  let seenRestarts = 0;

  function update(status: AgentStatus): void {
    // Reset rather than remove one by one: vanished tunnels and stale optional series
    // (an RTT that is now null) disappear without bookkeeping of what was there before.
    for (const g of [...perTunnel, ...perPath]) g.reset();
    for (const t of status.tunnels) {
      const tunnel = t.name;
      tunnelUp.set({ tunnel }, t.state === "up" ? 1 : 0);
      for (const state of TUNNEL_STATES)
        tunnelState.set({ tunnel, state }, t.state === state ? 1 : 0);
      const carrying = carries(t);
      if (carrying !== null) tunnelCarries.set({ tunnel }, carrying ? 1 : 0);
      if (t.bgp) {
        bgpEstablished.set({ tunnel }, t.bgp.state === "Established" ? 1 : 0);
        bgpPrefixes.set({ tunnel }, t.bgp.prefixesReceived);
      }
      if (t.probe.state === "disabled") continue;
      probeLoss.set({ tunnel }, t.probe.loss);
      if (t.probe.rttMs !== null) probeRtt.set({ tunnel }, t.probe.rttMs / 1000);
    }
    for (const p of status.paths) {
      const path = p.name;
      pathUp.set({ path }, p.state === "up" ? 1 : 0);
      for (const state of PATH_STATES) pathState.set({ path, state }, p.state === state ? 1 : 0);
      pathLoss.set({ path }, p.loss);
      if (p.rttMs !== null) pathRtt.set({ path }, p.rttMs / 1000);
    }
    charonUp.set(status.charon.state === "running" ? 1 : 0);
    configGeneration.set(status.config.generation);
    // The supervisor's count only grows while this process lives; a smaller value cannot happen.
    if (status.charon.restarts > seenRestarts) {
      charonRestarts.inc(status.charon.restarts - seenRestarts);
      seenRestarts = status.charon.restarts;
    }
  }

  return { registry, reloads, carrierActions, update };
}
