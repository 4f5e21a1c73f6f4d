/**
 * `swanpair controller run`: the long-running process around the loop. The status listener is
 * bound before the loop starts, so a start that fails (the port in use) leaves nothing
 * running. SIGHUP re-reads the fleet file; a file that cannot replace the running fleet
 * (missing, unreadable, invalid, without --self in a pair) is logged with why, and the running
 * fleet stays. SIGINT and SIGTERM stop after the tick in progress.
 */

import type { Logger } from "../../../common/logger.ts";
import { formatIssue } from "../../../common/yaml-config.ts";
import { Ec2 } from "../ec2/client.ts";
import { loadFleetFile } from "../fleet/load.ts";
import type { Fleet } from "../fleet/types.ts";
import { leaseClient } from "../leases/client.ts";
import { LeaseKeeper, leaseTiming } from "../leases/keeper.ts";
import { LeaseStore } from "../leases/store.ts";
import { Controller } from "./loop.ts";
import { startStatusServer } from "./server.ts";

export interface RunOptions {
  file: string;
  fleet: Fleet;
  self?: string;
  listen: { host: string | undefined; port: number };
  logger: Logger;
}

/** Checks a fleet the process could run with `self`; undefined when it can. */
export function selfProblem(fleet: Fleet, self: string | undefined): string | undefined {
  if (self === undefined || fleet.pairs.some((p) => p.members.includes(self))) return undefined;
  return `--self ${self}: not a member of any pair in the fleet`;
}

/** The fleet in `file`, or every reason it cannot replace the running one. */
async function loadReplacement(
  file: string,
  self: string | undefined,
): Promise<{ ok: true; fleet: Fleet } | { ok: false; issues: string[] }> {
  // A missing or unreadable file (SWP_ERR_CONFIG_READ) is refused like an invalid one.
  const result = await loadFleetFile(file).catch((err: unknown) =>
    err instanceof Error ? err : new Error(String(err)),
  );
  if (result instanceof Error) return { ok: false, issues: [result.message] };
  if (!result.ok) return { ok: false, issues: result.issues.map((i) => formatIssue(file, i)) };
  const problem = selfProblem(result.fleet, self);
  return problem ? { ok: false, issues: [problem] } : { ok: true, fleet: result.fleet };
}

/** The fleet's lease keeper, if it has a lease table; it outlives reloads that keep the table. */
function keeperFor(fleet: Fleet, logger: Logger): LeaseKeeper | undefined {
  const { leases } = fleet;
  if (!leases) return undefined;
  return new LeaseKeeper({
    store: new LeaseStore(leaseClient(leases, fleet.region), leases.table),
    ttlMs: leases.ttlMs,
    // A takeover comes at most one interval after the lease ends (the issue's bound). The
    // holder already stops writing `safetyMs` before the end, so clocks may still differ by
    // safety + skew (at least 0.5 s).
    timing: { skewMs: Math.min(leaseTiming(leases.ttlMs).skewMs, fleet.failover.intervalMs / 2) },
    onEvent: (e) =>
      e.kind === "lost" ? logger.warn(e, "lease lost") : logger.info(e, `lease ${e.kind}`),
  });
}

const sameLeases = (a: Fleet, b: Fleet) =>
  JSON.stringify([a.leases, a.region]) === JSON.stringify([b.leases, b.region]);

export async function runController(opts: RunOptions): Promise<void> {
  const { logger, self } = opts;
  let generation = 1;
  let fleet = opts.fleet;
  let leases = keeperFor(fleet, logger);
  const create = (fleet: Fleet, prev?: Controller) =>
    new Controller(fleet, {
      ec2: new Ec2(fleet),
      logger,
      self,
      generation,
      leases,
      // Health histories carry over, so a reload does not restart rise/fall from nothing.
      state: prev?.engineState(),
    });
  let current = create(opts.fleet);
  const server = await startStatusServer(() => current, opts.listen, logger).catch(async (err) => {
    current.destroy();
    await leases?.stop();
    throw err;
  });
  current.start();
  logger.info(
    { mode: self ? "co-located" : "central", self, intervalMs: opts.fleet.failover.intervalMs },
    "controller started",
  );

  const reload = async () => {
    const next = await loadReplacement(opts.file, self);
    if (!next.ok) {
      logger.error(
        { file: opts.file, issues: next.issues },
        "fleet reload rejected; the running fleet stays",
      );
      return;
    }
    const prev = current;
    await prev.stop();
    prev.destroy();
    if (!sameLeases(fleet, next.fleet)) {
      // Another table or duration: release the old leases before taking new ones.
      await leases?.stop();
      leases = keeperFor(next.fleet, logger);
    }
    fleet = next.fleet;
    generation++;
    current = create(next.fleet, prev);
    current.start();
    logger.info({ generation, intervalMs: next.fleet.failover.intervalMs }, "fleet reloaded");
  };
  // One reload at a time. reload() refuses a bad file itself: the chain rejects only on a bug.
  let reloading = Promise.resolve();
  const onHup = () => {
    reloading = reloading.then(reload);
  };
  process.on("SIGHUP", onHup);

  const signal = await new Promise<string>((resolve) => {
    for (const s of ["SIGINT", "SIGTERM"] as const) process.once(s, () => resolve(s));
  });
  process.off("SIGHUP", onHup);
  logger.info({ signal }, "controller stopping");
  await reloading;
  await current.stop();
  current.destroy();
  // Released, so another controller takes over at once rather than after the TTL.
  await leases?.stop();
  await server.close();
}
