/**
 * The controller: every `failover.intervalMs`, read EC2 and the agents, run the decision
 * engine, and carry out its writes. Level-triggered: each tick compares desired with observed
 * routes, so drift is healed and an interrupted failover finished on the next tick, whether
 * this process or a restarted one runs it. Ticks never overlap; a long write delays the next.
 */

import type { Logger } from "../../../common/logger.ts";
import { decide, initialState, sideKey } from "../decide/engine.ts";
import { type Side, sidesOf } from "../decide/sides.ts";
import type { EngineEvent, EngineState, Observation } from "../decide/types.ts";
import type { Ec2 } from "../ec2/client.ts";
import { prepareSwapTables } from "../ec2/swap.ts";
import type { Fleet } from "../fleet/types.ts";
import { executeAll } from "./execute.ts";
import { gather, gatherProblems } from "./gather.ts";
import { type ControllerMetrics, createControllerMetrics } from "./metrics.ts";
import { toObservation } from "./observation.ts";
import { type FailoverView, type SideView, sideViews } from "./view.ts";

/** How often swap mode's member tables are checked (and healed) outside failovers. */
const PREPARE_EVERY_MS = 60_000;

export interface ControllerOptions {
  ec2: Ec2;
  logger: Logger;
  /** Co-located mode: this controller runs on (and only ever claims routes for) this appliance. */
  self?: string;
  /** Which load of the fleet file this is (1, then one more per reload), for status. */
  generation?: number;
  /** Engine state to start from (a reload keeps the previous controller's). */
  state?: EngineState;
  now?: () => number;
}

export interface ControllerStatus {
  mode: "central" | "co-located";
  /** Loads of the fleet file: 1, plus one per accepted reload. */
  generation: number;
  intervalMs: number;
  self: string | null;
  startedAt: string;
  ticks: number;
  lastTickAt: string | null;
  /** Reads or writes that failed on the last tick. */
  lastErrors: string[];
  sides: SideView[];
}

export class Controller {
  readonly metrics: ControllerMetrics = createControllerMetrics();
  readonly #fleet: Fleet;
  readonly #opts: ControllerOptions;
  readonly #sides: readonly Side[];
  readonly #now: () => number;
  readonly #startedAt: number;
  readonly #failovers = new Map<string, FailoverView>();
  #state: EngineState = initialState;
  #ticks = 0;
  #lastTickAt: number | null = null;
  #lastErrors: string[] = [];
  /** The last finished tick's observation and state: status and metrics are built from them when asked for. */
  #last: { observation: Observation; state: EngineState } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #prepareTimer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #preparing: Promise<void> | undefined;
  #stopped = false;

  constructor(fleet: Fleet, opts: ControllerOptions) {
    this.#fleet = fleet;
    this.#opts = opts;
    this.#sides = sidesOf(fleet);
    this.#now = opts.now ?? Date.now;
    this.#startedAt = this.#now();
    this.#state = opts.state ?? initialState;
  }

  engineState(): EngineState {
    return this.#state;
  }

  /** Releases the EC2 client; call after stop(). */
  destroy(): void {
    this.#opts.ec2.destroy();
  }

  async tick(): Promise<void> {
    const { ec2, logger, self } = this.#opts;
    const { gathered, errors } = await gather(ec2, this.#fleet, {
      // An agent slower than a tick is as good as unreachable for this tick.
      agentTimeoutMs: Math.min(Math.max(this.#fleet.failover.intervalMs, 250), 2000),
      now: this.#now,
    });
    const observation = toObservation(this.#fleet, this.#sides, gathered);
    const result = decide(this.#fleet, this.#state, observation, { self });
    this.#state = result.state;
    for (const e of result.events) this.#record(e);
    const writes = await executeAll(ec2, result.actions);
    for (const w of writes) {
      this.metrics.writes.inc({ result: w.error ? "failed" : "ok" });
      const fields = {
        connection: w.action.connection,
        pair: w.action.pair,
        target: w.action.target,
        epoch: w.action.epoch,
        written: w.outcomes.filter((o) => o.action !== "skipped").length,
      };
      if (w.error) logger.error({ ...fields, err: w.error.message }, "route write failed");
      else logger.info(fields, "routes written");
    }
    const failed = [
      ...gatherProblems(errors),
      ...writes.flatMap((w) =>
        w.error ? [`write ${w.action.connection}/${w.action.pair}: ${w.error.message}`] : [],
      ),
    ];
    // Reads that keep failing are logged when they start failing, not on every tick.
    const isNew = (problem: string) => !this.#lastErrors.includes(problem);
    for (const [a, e] of Object.entries(errors.agents))
      if (isNew(`agent ${a}: ${e}`)) logger.warn({ appliance: a, err: e }, "agent unreachable");
    if (errors.routeTables && isNew(`route tables: ${errors.routeTables}`))
      logger.error({ err: errors.routeTables }, "route tables unreadable");
    if (errors.instances && isNew(`instances: ${errors.instances}`))
      logger.warn({ err: errors.instances }, "instances unreadable");
    this.#lastErrors = failed;
    this.#ticks++;
    this.#lastTickAt = observation.now;
    this.#last = { observation, state: this.#state };
    this.metrics.ticks.inc({ result: failed.length === 0 ? "ok" : "partial" });
  }

  #record(e: EngineEvent): void {
    const side = { connection: e.connection, pair: e.pair };
    const { logger } = this.#opts;
    switch (e.kind) {
      case "failover":
        this.metrics.failovers.inc({ ...side, reason: e.reason });
        this.#failovers.set(sideKey(e.connection, e.pair), {
          to: e.to,
          from: e.from,
          reason: e.reason,
          epoch: e.epoch,
          at: new Date(e.at).toISOString(),
        });
        logger.warn(e, "failover");
        return;
      case "stand-down":
        this.metrics.standDowns.inc(side);
        logger.warn(e, "newer decision on the route tables; standing down");
        return;
      case "alarm-no-healthy-target":
        logger.error(e, "no healthy target");
        return;
      default:
        logger.info(e, e.kind);
    }
  }

  /**
   * Swap mode's upkeep, off the failover path: each member table's managed routes point at
   * its own member (co-located: only this member's tables). A no-op for in-place fleets.
   */
  async prepare(): Promise<void> {
    const { ec2, logger, self } = this.#opts;
    if (!this.#fleet.vpcs.some((v) => v.swap && v.swap.length > 0)) return;
    try {
      const outcomes = await prepareSwapTables(ec2, this.#fleet, { only: self });
      const written = outcomes.filter((o) => o.action !== "skipped").length;
      this.metrics.prepares.inc({ result: "ok" });
      if (written > 0) logger.info({ written }, "swap tables prepared");
    } catch (err) {
      this.metrics.prepares.inc({ result: "failed" });
      logger.error(
        { err: err instanceof Error ? err.message : String(err) },
        "swap tables not prepared",
      );
    }
  }

  /** Ticks until stop(), each starting intervalMs after the previous one began (or ended, if it overran). */
  start(): void {
    const prepare = async () => {
      await this.prepare();
      if (this.#stopped) return;
      this.#prepareTimer = setTimeout(() => {
        this.#preparing = prepare();
      }, PREPARE_EVERY_MS);
    };
    this.#preparing = prepare();
    const loop = async () => {
      if (this.#stopped) return;
      const began = this.#now();
      try {
        await this.tick();
      } catch (err) {
        // gather and execute never throw; this is a bug, and the loop must outlive it.
        this.#opts.logger.error({ err }, "tick failed");
        this.metrics.ticks.inc({ result: "failed" });
      }
      if (this.#stopped) return;
      const wait = Math.max(0, began + this.#fleet.failover.intervalMs - this.#now());
      this.#timer = setTimeout(() => {
        this.#running = loop();
      }, wait);
    };
    this.#running = loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#prepareTimer);
    // Both finish what they started, so destroy() never cuts an EC2 call short.
    await Promise.all([this.#running, this.#preparing]);
  }

  status(): ControllerStatus {
    return {
      mode: this.#opts.self ? "co-located" : "central",
      generation: this.#opts.generation ?? 1,
      intervalMs: this.#fleet.failover.intervalMs,
      self: this.#opts.self ?? null,
      startedAt: new Date(this.#startedAt).toISOString(),
      ticks: this.#ticks,
      lastTickAt: this.#lastTickAt === null ? null : new Date(this.#lastTickAt).toISOString(),
      lastErrors: this.#lastErrors,
      sides: this.#views(),
    };
  }

  #views(): SideView[] {
    const last = this.#last;
    return last ? sideViews(this.#sides, last.observation, last.state, this.#failovers) : [];
  }

  async metricsText(): Promise<string> {
    this.metrics.update(this.#views(), this.#opts.ec2.calls);
    return this.metrics.registry.metrics();
  }
}
