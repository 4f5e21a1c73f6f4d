/**
 * `swanpair controller run`: the long-running process around the loop. SIGHUP re-reads the
 * fleet file; a file that fails validation is logged with its issues and the running fleet
 * stays. SIGINT and SIGTERM stop after the tick in progress.
 */

import type { Logger } from "../../../common/logger.ts";
import { formatIssue } from "../../../common/yaml-config.ts";
import { Ec2 } from "../ec2/client.ts";
import { loadFleetFile } from "../fleet/load.ts";
import type { Fleet } from "../fleet/types.ts";
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

export async function runController(opts: RunOptions): Promise<void> {
  const { logger, self } = opts;
  let generation = 1;
  const start = (fleet: Fleet, prev?: Controller) => {
    const controller = new Controller(fleet, {
      ec2: new Ec2(fleet),
      logger,
      self,
      generation,
      // Health histories carry over, so a reload does not restart rise/fall from nothing.
      state: prev?.engineState(),
    });
    controller.start();
    return controller;
  };
  let current = start(opts.fleet);
  const server = await startStatusServer(() => current, opts.listen, logger);
  logger.info(
    { mode: self ? "co-located" : "central", self, intervalMs: opts.fleet.failover.intervalMs },
    "controller started",
  );

  let reloading = Promise.resolve();
  const reload = async () => {
    const result = await loadFleetFile(opts.file);
    const problem = result.ok ? selfProblem(result.fleet, self) : undefined;
    if (!result.ok || problem) {
      const issues = result.ok ? [problem] : result.issues.map((i) => formatIssue(opts.file, i));
      logger.error({ issues }, "fleet reload rejected; the running fleet stays");
      return;
    }
    const prev = current;
    await prev.stop();
    prev.destroy();
    generation++;
    current = start(result.fleet, prev);
    logger.info({ generation, intervalMs: result.fleet.failover.intervalMs }, "fleet reloaded");
  };
  const onHup = () => {
    reloading = reloading.then(reload, reload);
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
  await server.close();
}
