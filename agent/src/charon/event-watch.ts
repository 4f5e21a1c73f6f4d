import type { Logger } from "../../../common/logger.ts";
import { type BackoffPolicy, nextRestartDelay } from "./backoff.ts";

/** What subscribe() gives: ViciClient's Subscription, or a test's stand-in. */
export interface EventSource extends AsyncIterable<unknown> {
  close(): void;
}

export interface EventWatchOptions {
  subscribe(): Promise<EventSource>;
  onEvent(): void;
  /** A subscription was made again after one ended: events may have been missed meanwhile. */
  onResubscribed(): void;
  logger: Logger;
  backoff?: BackoffPolicy;
}

/** The first retry is at once; a subscription that held 5 s resets the delay. */
const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 5000, resetAfterMs: 5000 };

/**
 * Keeps one event subscription alive for as long as the charon connection it belongs to.
 * A subscription can end while charon stays up: charon closed its connection, or it overflowed
 * because the agent fell behind. Either way the watch subscribes again rather than leaving the
 * agent deaf to SA changes until the next charon restart.
 */
export class EventWatch {
  readonly #opts: EventWatchOptions;
  readonly #backoff: BackoffPolicy;
  #stopped = false;
  #current: EventSource | undefined;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;

  constructor(opts: EventWatchOptions) {
    this.#opts = opts;
    this.#backoff = opts.backoff ?? DEFAULT_BACKOFF;
    void this.#run();
  }

  /** Ends the watch and closes its subscription. */
  stop(): void {
    this.#stopped = true;
    this.#current?.close();
    clearTimeout(this.#timer);
    this.#wake?.();
  }

  async #run() {
    const { logger } = this.#opts;
    let streak = 0;
    /** Why the last subscription ended; undefined before the first. */
    let ended: string | undefined;
    while (!this.#stopped) {
      const started = Date.now();
      const subscription = await this.#opts.subscribe().catch((error: Error) => {
        // When charon is gone for good, the link stops the watch; until then, keep trying.
        if (!this.#stopped) logger.warn({ err: error }, "cannot subscribe to charon's events");
        ended = error.message;
        return undefined;
      });
      if (subscription) ended = await this.#consume(subscription, ended);
      streak = Date.now() - started >= this.#backoff.resetAfterMs ? 1 : streak + 1;
      // Even at no delay, a turn of the event loop: when charon exits, its command connection
      // closes too, and the link stops this watch rather than it resubscribing to nothing.
      await this.#sleep(nextRestartDelay(streak, this.#backoff));
    }
  }

  /** Reads one subscription until it ends; returns why it ended. */
  async #consume(subscription: EventSource, previous: string | undefined): Promise<string> {
    this.#current = subscription;
    try {
      if (this.#stopped) return "stopped";
      if (previous !== undefined) {
        this.#opts.logger.warn({ reason: previous }, "subscribed to charon's events again");
        this.#opts.onResubscribed();
      }
      for await (const _event of subscription) this.#opts.onEvent();
      return "charon closed the event connection";
    } catch (error) {
      return (error as Error).message;
    } finally {
      subscription.close();
      this.#current = undefined;
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(resolve, ms);
    });
  }
}
