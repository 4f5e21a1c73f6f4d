/**
 * The controller: every `failover.intervalMs`, read EC2 and the agents, run the decision
 * engine, and hand its writes to each side's own pipeline. Level-triggered: each tick compares
 * desired with observed routes, so drift is healed and an interrupted failover finished on the
 * next tick, whether this process or a restarted one runs it. Ticks never overlap, and never
 * wait for writes: a slow side delays no other side's detection.
 */

import type { Logger } from "../../../common/logger.ts";
import { decide, initialState, sideKey } from "../decide/engine.ts";
import { type Side, sidesOf } from "../decide/sides.ts";
import type { EngineEvent, EngineState, Observation, WriteRoutes } from "../decide/types.ts";
import type { Ec2 } from "../ec2/client.ts";
import { removeLegacyFences } from "../ec2/fences.ts";
import type { ManagedTables } from "../ec2/route-tables.ts";
import { prepareSwapTables } from "../ec2/swap.ts";
import { fenceKey } from "../fleet/fence-tags.ts";
import type { Fleet } from "../fleet/types.ts";
import type { LeaseKeeper } from "../leases/keeper.ts";
import type { ExecuteResult } from "./execute.ts";
import { gather, gatherProblems } from "./gather.ts";
import { type ControllerMetrics, createControllerMetrics } from "./metrics.ts";
import { currentOwner, toObservation } from "./observation.ts";
import { SideWriters } from "./side-writers.ts";
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
  /**
   * The lease keeper when the fleet has a lease table (decision 0013): a side is written only
   * while its lease is held. Owned by the caller, so that a reload keeps the leases.
   */
  leases?: LeaseKeeper;
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
  /** With a lease table: this controller's identity there and the sides whose lease it holds. */
  leases?: { holder: string; held: Record<string, { epoch: number; validForMs: number }> };
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
  /** Removal of the legacy fence tags, when due (at most one in flight). */
  #retiring: Promise<void> | undefined;
  #stopped = false;
  readonly #writers: SideWriters;
  /** Per side: why its last write failed, until one succeeds. */
  readonly #writeErrors = new Map<string, string>();

  constructor(fleet: Fleet, opts: ControllerOptions) {
    this.#fleet = fleet;
    this.#opts = opts;
    this.#sides = sidesOf(fleet);
    this.#now = opts.now ?? Date.now;
    this.#startedAt = this.#now();
    this.#state = opts.state ?? initialState;
    this.#writers = new SideWriters({
      ec2: opts.ec2,
      refusal: (action) => this.#refusal(action),
      deadline: (action) => this.#leaseOf(action)?.validUntil,
      onDone: (result) => this.#written(result),
    });
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
    const readMark = this.#writers.mark();
    const { gathered, errors } = await gather(ec2, this.#fleet, {
      // An agent slower than a tick is as good as unreachable for this tick.
      agentTimeoutMs: Math.min(Math.max(this.#fleet.failover.intervalMs, 250), 2000),
      now: this.#now,
    });
    const observation = toObservation(this.#fleet, this.#sides, gathered);
    const { leases } = this.#opts;
    // Central controllers that share a lease table decide only the sides whose lease they
    // hold and watch the others; co-located ones decide their own pair's sides and write only
    // under the lease (see #wantLeases).
    const holds =
      leases && !self
        ? (key: string) => leases.holds(this.#leaseKey(key)) !== undefined
        : undefined;
    const result = decide(this.#fleet, this.#state, observation, { self, holds });
    this.#state = result.state;
    for (const e of result.events) this.#record(e);
    if (leases) this.#wantLeases(leases, observation, result.actions);
    for (const action of result.actions) {
      const lease = this.#leaseOf(action);
      if (leases && !lease) continue;
      // Stamped with the lease's epoch: a later holder's decisions outrank this one's.
      const stamped = lease ? { ...action, term: lease.epoch } : action;
      const started = this.#writers.start(stamped, readMark);
      if (started !== "started")
        logger.debug(
          { connection: action.connection, pair: action.pair, epoch: action.epoch, why: started },
          "side not written this tick; a later tick's read decides again",
        );
    }
    if (gathered.tables) this.#retireLegacyFences(gathered.tables);
    const failed = [...gatherProblems(errors), ...this.#writeErrors.values()];
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

  /**
   * The sides whose lease this controller wants. Central: all of them, so that one controller
   * holds each and another takes over when its lease runs out. Co-located: a side owned by
   * this member (it keeps renewing while it lives, so its partner cannot claim), or one it
   * decided to claim; none else, so that the owner's controller can hold it.
   */
  #wantLeases(leases: LeaseKeeper, observation: Observation, actions: WriteRoutes[]): void {
    const { self } = this.#opts;
    for (const side of this.#sides) {
      if (self !== undefined && !side.members.includes(self)) continue;
      const o = observation.sides.find(
        (x) => x.connection === side.connection && x.pair === side.pair,
      );
      // EC2 unread this tick: nothing says the owner changed, so the want stays as it was.
      if (self !== undefined && o === undefined) continue;
      const owner = o ? currentOwner(side, o) : undefined;
      const claiming = actions.some((a) => sideKey(a.connection, a.pair) === side.key);
      // A claim must outrank every fence already written, even if DynamoDB's TTL deleted
      // the side's item (and its epoch) since.
      const epochFloor = Math.max(0, ...(o?.fences ?? []).map((f) => f.term ?? 0));
      leases.want(this.#leaseKey(side.key), self === undefined || owner === self || claiming, {
        epochFloor,
      });
    }
    leases.tick();
  }

  /** A side's item in the lease table; the fleet tag's value keeps fleets sharing a table apart. */
  #leaseKey(side: string): string {
    return `${this.#fleet.tag.value}/${side}`;
  }

  #leaseOf(action: WriteRoutes) {
    return this.#opts.leases?.holds(this.#leaseKey(sideKey(action.connection, action.pair)));
  }

  /** Why a write in flight is no longer wanted: the engine holds another decision now. */
  #refusal(action: WriteRoutes): string | undefined {
    if (this.#stopped) return "the controller is stopping";
    if (this.#opts.leases) {
      const lease = this.#leaseOf(action);
      if (lease?.epoch !== action.term) return "the side's lease is no longer held";
    }
    const held = this.#state.sides[sideKey(action.connection, action.pair)]?.decision;
    if (held?.active === action.target && held.epoch === action.epoch) return undefined;
    return `superseded: the side's decision is now ${held ? `${held.active} epoch ${held.epoch}` : "none"}`;
  }

  #written(w: ExecuteResult): void {
    const { logger } = this.#opts;
    const key = sideKey(w.action.connection, w.action.pair);
    this.metrics.writes.inc({ result: w.error ? "failed" : "ok" });
    const fields = {
      connection: w.action.connection,
      pair: w.action.pair,
      target: w.action.target,
      epoch: w.action.epoch,
      written: w.outcomes.filter((o) => o.action !== "skipped").length,
    };
    if (w.error) {
      this.#writeErrors.set(key, `write ${key}: ${w.error.message}`);
      logger.error({ ...fields, err: w.error.message }, "route write failed");
    } else {
      this.#writeErrors.delete(key);
      logger.info(fields, "routes written");
    }
  }

  /**
   * Removes swanpair 0.1's shared fence tags from tables where every side has its own fence
   * now (each side read them once, as its fence, before it wrote its own).
   */
  #retireLegacyFences(view: ManagedTables): void {
    if (this.#retiring) return;
    const due = view.tables.filter(
      (t) =>
        t.fences.legacy !== undefined &&
        this.#sides
          .filter((s) => s.routeTables.includes(t.id))
          .every((s) => t.fences.sides[fenceKey(s.connection, s.pair)] !== undefined),
    );
    if (due.length === 0) return;
    const { ec2, logger } = this.#opts;
    const ids = due.map((t) => t.id);
    this.#retiring = removeLegacyFences(ec2, ids)
      .then(
        () => logger.info({ tables: ids }, "legacy fence tags removed"),
        (err: unknown) =>
          logger.warn(
            { tables: ids, err: err instanceof Error ? err.message : String(err) },
            "legacy fence tags not removed",
          ),
      )
      .finally(() => {
        this.#retiring = undefined;
      });
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
    // Each finishes (or, for writes, abandons at its next attempt) what it started, so
    // destroy() never cuts an EC2 call short.
    await Promise.all([this.#running, this.#preparing, this.#retiring]);
    await this.#writers.idle();
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
      ...(this.#opts.leases ? { leases: this.#leaseStatus(this.#opts.leases) } : {}),
      sides: this.#views(),
    };
  }

  #leaseStatus(leases: LeaseKeeper): NonNullable<ControllerStatus["leases"]> {
    const held = Object.fromEntries(
      [...leases.held()].map(([side, h]) => [
        side,
        { epoch: h.epoch, validForMs: Math.round(h.validForMs) },
      ]),
    );
    return { holder: leases.holder, held };
  }

  #views(): SideView[] {
    const last = this.#last;
    return last ? sideViews(this.#sides, last.observation, last.state, this.#failovers) : [];
  }

  async metricsText(): Promise<string> {
    this.metrics.update(this.#views(), this.#opts.ec2.calls, this.#opts.leases);
    return this.metrics.registry.metrics();
  }
}
