import type { Logger } from "../../../common/logger.ts";
import type { CarrierAction, Judgement } from "./decide.ts";

/** What steering needs from charon. */
export interface CarrierPort {
  initiate(tunnel: string): Promise<void>;
  rekeyChild(childId: string): Promise<void>;
}

/**
 * At most one action per group this often towards the same wanted carrier, so that ties and
 * far ends that disagree cannot storm charon. A new wanted carrier acts at once: that change
 * comes from a probe's rise or fall, whose hysteresis bounds its rate.
 */
export const CARRIER_ACTION_GAP_MS = 2000;

export interface SteerOptions {
  log: Logger;
  /** An action held back by the gap is due now: judge again (on fresh SAs) and call act(). */
  onDue: () => void;
  gapMs?: number;
  now?: () => number;
}

/**
 * The imperative shell around judgeGroup(): starts each group's action, rate-limited per group,
 * and logs when a group's wanted carrier changes. Level-triggered: the agent calls it after
 * every re-read of the SAs (events, probe changes, the resync timer), never relying on one; an
 * action the gap holds back asks for a pass of its own when the gap ends (onDue).
 */
export class CarrierSteer {
  readonly #log: Logger;
  readonly #gapMs: number;
  readonly #now: () => number;
  readonly #onDue: () => void;
  #wake: { at: number; timer: NodeJS.Timeout } | undefined;
  /**
   * By group (its members joined): when it last acted and for whom, and whom it wanted at the
   * last call.
   */
  readonly #groups = new Map<
    string,
    { actedAt: number; actedFor: string | null; wanted: string | null }
  >();

  constructor(opts: SteerOptions) {
    this.#log = opts.log;
    this.#gapMs = opts.gapMs ?? CARRIER_ACTION_GAP_MS;
    this.#now = opts.now ?? Date.now;
    this.#onDue = opts.onDue;
  }

  stop(): void {
    clearTimeout(this.#wake?.timer);
    this.#wake = undefined;
  }

  /** Returns the actions started; their outcome arrives as charon's events. */
  act(judgements: readonly Judgement[], port: CarrierPort): CarrierAction[] {
    const now = this.#now();
    const started: CarrierAction[] = [];
    const seen = new Set<string>();
    for (const { members, carrier, wanted, action } of judgements) {
      const group = members.join(",");
      seen.add(group);
      const last = this.#groups.get(group) ?? {
        actedAt: Number.NEGATIVE_INFINITY,
        actedFor: null,
        wanted: null,
      };
      if (wanted !== last.wanted) {
        this.#log.info({ group, wanted, carrier }, "carrier group has a new wanted carrier");
      }
      const held = action !== null && wanted === last.actedFor && now - last.actedAt < this.#gapMs;
      if (held) this.#wakeAt(last.actedAt + this.#gapMs);
      const acted = action !== null && !held;
      this.#groups.set(group, {
        actedAt: acted ? now : last.actedAt,
        actedFor: acted ? wanted : last.actedFor,
        wanted,
      });
      if (action === null || held) continue;
      started.push(action);
      this.#start(group, action, port);
    }
    for (const group of this.#groups.keys()) if (!seen.has(group)) this.#groups.delete(group);
    return started;
  }

  /** One timer for all groups, at the earliest time one of them may act again. */
  #wakeAt(at: number) {
    if (this.#wake && this.#wake.at <= at) return;
    clearTimeout(this.#wake?.timer);
    const timer = setTimeout(() => {
      this.#wake = undefined;
      this.#onDue();
    }, at - this.#now());
    timer.unref();
    this.#wake = { at, timer };
  }

  #start(group: string, action: CarrierAction, port: CarrierPort) {
    const run =
      action.kind === "initiate" ? port.initiate(action.tunnel) : port.rekeyChild(action.childId);
    this.#log.info(
      { group, ...action },
      action.kind === "initiate"
        ? "initiating the wanted carrier, which has no CHILD_SA"
        : "rekeying the wanted carrier's CHILD_SA: another member's was installed after it",
    );
    run.catch((err: Error) =>
      this.#log.warn({ group, ...action, err }, "carrier action failed; the next pass retries"),
    );
  }
}
