import type { ProbeReading } from "../../../common/agent-api/status.ts";
import type { Logger } from "../../../common/logger.ts";
import {
  initialRiseFall,
  next,
  type RiseFallState,
  type RiseFallThresholds,
} from "../../../common/rise-fall.ts";

type Listener = (status: ProbeReading) => void;

/**
 * The results of one prober, whatever it sends (UDP requests to an agent, ICMP echoes to AWS):
 * rise/fall over answered-or-lost, a window for loss and mean RTT, and listeners told when the
 * state changes.
 */
export class ProbeTally {
  readonly #thresholds: RiseFallThresholds;
  readonly #windowSize: number;
  readonly #log: Logger;
  /** Recent results, oldest first: RTT in ms, or null for a loss. */
  readonly #window: (number | null)[] = [];
  readonly #listeners = new Set<Listener>();
  #health: RiseFallState = initialRiseFall;
  #sent = 0;
  #received = 0;

  constructor(thresholds: RiseFallThresholds, log: Logger, windowSize = 10) {
    this.#thresholds = thresholds;
    this.#log = log;
    this.#windowSize = windowSize;
  }

  sent(): void {
    this.#sent++;
  }

  /** One probe's outcome: its round trip in ms, or null when it was lost. */
  record(rttMs: number | null): void {
    if (rttMs !== null) this.#received++;
    this.#window.push(rttMs);
    if (this.#window.length > this.#windowSize) this.#window.shift();
    const before = this.#health.health;
    this.#health = next(this.#health, rttMs !== null, this.#thresholds);
    if (this.#health.health === before) return;
    const status = this.snapshot();
    this.#log.info({ state: status.state, loss: status.loss }, "probe state changed");
    for (const listener of this.#listeners) listener(status);
  }

  snapshot(): ProbeReading {
    const rtts = this.#window.filter((r): r is number => r !== null);
    const lost = this.#window.length - rtts.length;
    return {
      state: this.#health.health,
      rttMs: rtts.length ? rtts.reduce((a, b) => a + b, 0) / rtts.length : null,
      loss: this.#window.length ? lost / this.#window.length : 0,
      sent: this.#sent,
      received: this.#received,
    };
  }

  /** Called with the new snapshot whenever the state changes; returns an unsubscribe. */
  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
