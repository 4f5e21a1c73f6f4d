/**
 * `swanpair failover CONNECTION --to APPLIANCE`: an operator's move. It is an ordinary
 * decision with the next epoch, so a running controller sees the newer fence, stands down and
 * adopts it (with the side hold-down counting from now) instead of fighting it. The write is
 * repeated until EC2 shows every route on the target, or someone writes a newer decision.
 */

import { SwpError } from "../../../common/errors.ts";
import { compareFence, newestFence } from "../decide/fence.ts";
import { drifted, observedEnis, type Side, sidesOf } from "../decide/sides.ts";
import type { WriteRoutes } from "../decide/types.ts";
import type { Ec2 } from "../ec2/client.ts";
import { describeManagedTables } from "../ec2/managed-tables.ts";
import type { Fleet } from "../fleet/types.ts";
import { executeWrite } from "./execute.ts";
import { sideObservations } from "./observation.ts";
import { snapshot } from "./snapshot.ts";

export interface FailoverRequest {
  connection: string;
  to: string;
  /** Move even when the target does not look healthy. */
  force: boolean;
  timeoutMs: number;
  agentTimeoutMs: number;
  /** Between reads while waiting for EC2 to show the routes. */
  pollMs?: number;
  progress?: (line: string) => void;
}

export interface FailoverResult {
  connection: string;
  pair: string;
  from: string | null;
  to: string;
  epoch: number;
  /** Routes written (not counting ones already on the target). */
  written: number;
  /** True when the side already pointed at the target and nothing was written. */
  unchanged: boolean;
}

function sideFor(fleet: Fleet, connection: string, to: string): Side {
  const sides = sidesOf(fleet).filter((s) => s.connection === connection);
  if (sides.length === 0) {
    const known = fleet.connections.map((c) => c.name).join(", ");
    throw new SwpError(
      "SWP_ERR_FAILOVER_REFUSED",
      `no connection named ${connection} (have: ${known})`,
    );
  }
  const side = sides.find((s) => s.members.includes(to));
  if (!side) {
    const members = sides.flatMap((s) => s.members).join(", ");
    throw new SwpError(
      "SWP_ERR_FAILOVER_REFUSED",
      `${to} is not a member of a pair of connection ${connection} (members: ${members})`,
    );
  }
  return side;
}

export async function manualFailover(
  ec2: Ec2,
  fleet: Fleet,
  req: FailoverRequest,
): Promise<FailoverResult> {
  const side = sideFor(fleet, req.connection, req.to);
  const progress = req.progress ?? (() => {});
  const snap = await snapshot(ec2, fleet, { agentTimeoutMs: req.agentTimeoutMs });
  if (snap.errors.routeTables)
    throw new SwpError(
      "SWP_ERR_EC2_CALL",
      `cannot read the route tables: ${snap.errors.routeTables}`,
    );
  const view = snap.sides.find((v) => v.connection === side.connection && v.pair === side.pair);
  const target = view?.members.find((m) => m.name === req.to);
  if (target && target.signals.length > 0 && !req.force) {
    throw new SwpError(
      "SWP_ERR_FAILOVER_REFUSED",
      `${req.to} is not fit to carry ${side.connection}/${side.pair}: ${target.signals.join(", ")} (--force moves anyway)`,
    );
  }
  const from = view?.active ?? null;
  if (from === req.to && view?.drift.length === 0) {
    progress(`${side.connection}/${side.pair}: routes already on ${req.to}`);
    return {
      connection: side.connection,
      pair: side.pair,
      from,
      to: req.to,
      epoch: view.fence?.epoch ?? 0,
      written: 0,
      unchanged: true,
    };
  }
  const observed = snap.observation.sides.find(
    (o) => o.connection === side.connection && o.pair === side.pair,
  );
  const epoch = Math.max(0, ...(observed?.fences ?? []).map((f) => f.epoch)) + 1;
  // The operator's decision keeps the newest lease term seen, so that it outranks the lease
  // holder's current decision by epoch (the holder then follows it, as without leases).
  const term = Math.max(0, ...(observed?.fences ?? []).map((f) => f.term ?? 0)) || undefined;
  const decidedAt = Date.now();
  const deadline = decidedAt + req.timeoutMs;
  let written = 0;
  for (let attempt = 1; ; attempt++) {
    const tables = await describeManagedTables(ec2, fleet, side.routes).catch(() => undefined);
    const now = tables ? sideObservations([side], tables)[0] : undefined;
    if (now) {
      const fence = newestFence(now.fences, side.members);
      // Ordered as every controller orders fences, so "overtaken" means the others follow it.
      if (fence && compareFence(fence, { active: req.to, epoch, term, at: decidedAt }) > 0)
        throw new SwpError(
          "SWP_ERR_FAILOVER_OVERTAKEN",
          `overtaken: a newer decision (epoch ${fence.epoch}) put ${side.connection}/${side.pair} on ${fence.active}`,
        );
      const routes = drifted(side, observedEnis(side, now.routes), req.to);
      const fenced =
        now.fences.length === side.routeTables.length &&
        now.fences.every((f) => f.epoch === epoch && f.active === req.to);
      if (routes.length === 0 && fenced && attempt > 1) {
        progress(
          `${side.connection}/${side.pair}: all ${side.routes.length} routes on ${req.to} (epoch ${epoch})`,
        );
        return {
          connection: side.connection,
          pair: side.pair,
          from,
          to: req.to,
          epoch,
          written,
          unchanged: false,
        };
      }
      const action: WriteRoutes = {
        kind: "write-routes",
        connection: side.connection,
        pair: side.pair,
        target: req.to,
        eni: side.enis[req.to] as string,
        epoch,
        ...(term ? { term } : {}),
        decidedAt,
        routeTables: side.routeTables,
        routes,
      };
      try {
        const outcomes = await executeWrite(ec2, action);
        written += outcomes.filter((o) => o.action !== "skipped").length;
        progress(
          `${side.connection}/${side.pair}: wrote fence epoch ${epoch} and ${routes.length} route(s) towards ${req.to}`,
        );
      } catch (err) {
        progress(
          `${side.connection}/${side.pair}: write failed, retrying: ${err instanceof Error ? err.message : err}`,
        );
      }
    }
    if (Date.now() >= deadline)
      throw new SwpError(
        "SWP_ERR_FAILOVER_TIMEOUT",
        `${side.connection}/${side.pair}: routes not all on ${req.to} after ${req.timeoutMs} ms`,
      );
    await new Promise((r) => setTimeout(r, req.pollMs ?? 500));
  }
}
