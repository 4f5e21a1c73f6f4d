import type { Counter, Registry } from "prom-client";
import { metricsRegistry } from "../../../common/metrics.ts";
import type { Ec2CallCounter } from "../ec2/client.ts";
import type { LeaseKeeper } from "../leases/keeper.ts";
import type { SideView } from "./view.ts";

/** The controller's Prometheus series; one registry per controller so tests never share series. */
export interface ControllerMetrics {
  registry: Registry;
  ticks: Counter<"result">;
  failovers: Counter<"connection" | "pair" | "reason">;
  standDowns: Counter<"connection" | "pair">;
  writes: Counter<"result">;
  prepares: Counter<"result">;
  /** Refresh the gauges from the latest view, EC2 call counts and leases; call before each scrape. */
  update(sides: SideView[], calls: Ec2CallCounter, leases?: LeaseKeeper): void;
}

const SIDE = ["connection", "pair"] as const;
const MEMBER = [...SIDE, "member"] as const;

export function createControllerMetrics(): ControllerMetrics {
  const { registry, counter, gauge } = metricsRegistry("swanpair_controller_");

  const ticks = counter(
    "swanpair_controller_ticks_total",
    "Reconcile ticks by result (ok; partial when a read or a write failed; failed on a bug)",
    ["result"],
  );
  const failovers = counter(
    "swanpair_failovers_total",
    "Route moves decided by this controller, by side and reason",
    [...SIDE, "reason"],
  );
  const standDowns = counter(
    "swanpair_stand_downs_total",
    "Ticks on which a newer fence written by someone else made this controller stand down",
    SIDE,
  );
  const writes = counter(
    "swanpair_route_writes_total",
    "Side writes (fence tags, then drifted routes) by result",
    ["result"],
  );
  const prepares = counter(
    "swanpair_swap_prepares_total",
    "Swap mode upkeep passes over the member route tables, by result",
    ["result"],
  );
  const active = gauge(
    "swanpair_side_active",
    "1 for the member a side's routes belong to",
    MEMBER,
  );
  const healthy = gauge(
    "swanpair_member_healthy",
    "1 when the member is healthy for the side (fit to carry its routes)",
    MEMBER,
  );
  const drift = gauge(
    "swanpair_routes_drifted",
    "Managed routes that do not point at the side's active member",
    SIDE,
  );
  const alarm = gauge(
    "swanpair_alarm",
    "1 while a side needs a target it cannot have (no healthy member)",
    SIDE,
  );
  const ec2Calls = gauge(
    "swanpair_ec2_calls",
    "EC2 API attempts since start, by operation and outcome (ok, throttled, server-error, timeout, network, ...)",
    ["operation", "outcome"],
  );
  const leaseCalls = gauge(
    "swanpair_lease_calls",
    "DynamoDB lease requests since start, by operation (read, claim, renew, release) and outcome",
    ["operation", "outcome"],
  );
  const leasesHeld = gauge(
    "swanpair_lease_held",
    "1 for each side whose lease this controller holds",
    ["side"],
  );
  return {
    registry,
    ticks,
    failovers,
    standDowns,
    writes,
    prepares,
    update(sides, calls, leases) {
      for (const g of [active, healthy, drift, alarm]) g.reset();
      for (const s of sides) {
        const side = { connection: s.connection, pair: s.pair };
        for (const m of s.members) {
          active.set({ ...side, member: m.name }, s.active === m.name ? 1 : 0);
          healthy.set({ ...side, member: m.name }, m.status === "healthy" ? 1 : 0);
        }
        drift.set(side, s.drift.length);
        alarm.set(side, s.alarm ? 1 : 0);
      }
      ec2Calls.reset();
      for (const [operation, outcomes] of Object.entries(calls.snapshot()))
        for (const [outcome, n] of Object.entries(outcomes ?? {}))
          ec2Calls.set({ operation, outcome }, n ?? 0);
      leaseCalls.reset();
      leasesHeld.reset();
      if (!leases) return;
      for (const [operation, outcomes] of Object.entries(leases.calls.snapshot()))
        for (const [outcome, n] of Object.entries(outcomes ?? {}))
          leaseCalls.set({ operation, outcome }, n ?? 0);
      for (const side of leases.held().keys()) leasesHeld.set({ side }, 1);
    },
  };
}
