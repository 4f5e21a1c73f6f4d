import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import type { AgentStatus, ReloadResult, TunnelState } from "./status.ts";

const TUNNEL_STATES: readonly TunnelState[] = ["up", "down", "connecting"];

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
  /**
   * Refresh the gauges from a status snapshot; call before each scrape.
   * Also advances swanpair_charon_restarts_total from status.charon.restarts, so
   * the restart count has one source of truth (the supervisor) and is never incremented here twice.
   */
  update(status: AgentStatus): void;
}

export function createMetrics(): AgentMetrics {
  // A dedicated registry: tests and a possible second agent in-process must not share series.
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "swanpair_" });
  const registers = [registry];

  const reloads = new Counter({
    name: "swanpair_reloads_total",
    help: "Configuration reloads by outcome (ok, rejected by validation, failed while applying)",
    labelNames: ["result"] as const,
    registers,
  });
  // Pre-create every outcome so rate() sees a zero before the first reload of a kind.
  for (const result of ["ok", "rejected", "failed"] satisfies ReloadOutcome[]) {
    reloads.inc({ result }, 0);
  }
  const charonRestarts = new Counter({
    name: "swanpair_charon_restarts_total",
    help: "Times the agent restarted charon after it exited",
    registers,
  });
  const tunnelUp = new Gauge({
    name: "swanpair_tunnel_up",
    help: "1 when the tunnel is up (child SA installed and probe passing), else 0",
    labelNames: ["tunnel"] as const,
    registers,
  });
  const tunnelState = new Gauge({
    name: "swanpair_tunnel_state",
    help: "Tunnel state, one-hot: 1 for the current state, 0 for the others",
    labelNames: ["tunnel", "state"] as const,
    registers,
  });
  const probeRtt = new Gauge({
    name: "swanpair_probe_rtt_seconds",
    help: "Mean probe round-trip time over the recent window (absent when nothing came back)",
    labelNames: ["tunnel"] as const,
    registers,
  });
  const probeLoss = new Gauge({
    name: "swanpair_probe_loss_ratio",
    help: "Fraction 0..1 of recent probes that got no answer (absent when probing is disabled)",
    labelNames: ["tunnel"] as const,
    registers,
  });
  const charonUp = new Gauge({
    name: "swanpair_charon_up",
    help: "1 when charon is running, else 0",
    registers,
  });
  const configGeneration = new Gauge({
    name: "swanpair_config_generation",
    help: "Generation of the configuration currently loaded",
    registers,
  });
  const perTunnel = [tunnelUp, tunnelState, probeRtt, probeLoss];

  let seenRestarts = 0;

  function update(status: AgentStatus): void {
    // Reset rather than remove one by one: vanished tunnels and stale optional series
    // (an RTT that is now null) disappear without bookkeeping of what was there before.
    for (const g of perTunnel) g.reset();
    for (const t of status.tunnels) {
      const tunnel = t.name;
      tunnelUp.set({ tunnel }, t.state === "up" ? 1 : 0);
      for (const state of TUNNEL_STATES)
        tunnelState.set({ tunnel, state }, t.state === state ? 1 : 0);
      if (t.probe.state === "disabled") continue;
      probeLoss.set({ tunnel }, t.probe.loss);
      if (t.probe.rttMs !== null) probeRtt.set({ tunnel }, t.probe.rttMs / 1000);
    }
    charonUp.set(status.charon.state === "running" ? 1 : 0);
    configGeneration.set(status.config.generation);
    // The supervisor's count only grows while this process lives; a smaller value cannot happen.
    if (status.charon.restarts > seenRestarts) {
      charonRestarts.inc(status.charon.restarts - seenRestarts);
      seenRestarts = status.charon.restarts;
    }
  }

  return { registry, reloads, update };
}
