import { EC2Client } from "@aws-sdk/client-ec2";
import { CallCounter } from "../../../common/call-counter.ts";
import { NETWORK_CODES, type SdkErrorShape } from "../../../common/sdk-errors.ts";
import type { Fleet } from "../fleet/types.ts";

/**
 * The EC2 client the control plane uses: the SDK's client for signing, credentials and
 * serialisation, with retries, per-attempt deadlines and a concurrency limit of our own so
 * every HTTP attempt is counted and bounded. See docs/decisions/0007-ec2-retries-and-calls.md.
 */

export interface Ec2Options {
  /** Deadline of one attempt; a slow call on the failover path is retried, not waited on. */
  callTimeoutMs: number;
  /** Attempts per call, the first included. */
  maxAttempts: number;
  /** Full-jitter backoff: before retry n, sleep uniformly in [0, min(maxDelayMs, baseDelayMs·2^(n-1))). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Attempts in flight at once, across every operation of this client. */
  concurrency: number;
  /**
   * Once EC2 throttles an operation, its attempts are spaced to this many per second (EC2's
   * refill rate for mutating actions) until `pacedQuietMs` pass without another throttle, so a
   * drained bucket is met at the pace it refills instead of with rejected retries.
   */
  pacedPerSecond: number;
  pacedQuietMs: number;
}

export const DEFAULT_EC2_OPTIONS: Ec2Options = {
  callTimeoutMs: 2000,
  maxAttempts: 6,
  baseDelayMs: 100,
  maxDelayMs: 5000,
  concurrency: 8,
  pacedPerSecond: 5,
  pacedQuietMs: 10_000,
};

/** How one HTTP attempt ended. */
export type CallOutcome =
  | "ok"
  /** Stopped by its guard: the action's deadline passed, or its check refused another attempt. */
  | "cancelled"
  | "throttled"
  | "server-error"
  | "timeout"
  | "network"
  | "client-error"
  | "error";

const RETRYABLE: ReadonlySet<CallOutcome> = new Set([
  "throttled",
  "server-error",
  "timeout",
  "network",
]);

/** A call that failed for good: a non-retryable answer, or retries used up. */
export class Ec2Error extends Error {
  readonly operation: string;
  /** EC2 error code (e.g. InvalidRoute.NotFound), or the outcome when there was no answer. */
  readonly code: string;
  readonly outcome: CallOutcome;
  readonly attempts: number;
  constructor(
    operation: string,
    code: string,
    outcome: CallOutcome,
    attempts: number,
    cause: unknown,
  ) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(`EC2 ${operation} failed after ${attempts} attempt(s): ${code}: ${detail}`, { cause });
    this.name = "Ec2Error";
    this.operation = operation;
    this.code = code;
    this.outcome = outcome;
    this.attempts = attempts;
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.outcome);
  }
}

/** EC2 attempts by operation and outcome. */
export class Ec2CallCounter extends CallCounter<string, CallOutcome> {}

/** Sleep before retry `retry` (1-based): uniform in [0, min(max, base·2^(retry-1))). */
export function fullJitterDelay(
  retry: number,
  opts: Pick<Ec2Options, "baseDelayMs" | "maxDelayMs">,
  random: () => number = Math.random,
): number {
  return random() * Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** (retry - 1));
}

/**
 * Attempt slots shared by every call, handed out in turn between lanes (a side's writes, the
 * tick's reads), so a lane whose calls hang until their deadline cannot starve the others.
 */
class Slots {
  #free: number;
  /** Waiters per lane; a lane served moves to the back (Map keeps insertion order). */
  readonly #lanes = new Map<string, Array<() => void>>();
  /**
   * The lane that got a slot last, from the queue or a free slot: it is not served again
   * while another lane waits. Without it, a lane whose first call took a free slot and whose
   * next calls queued first would be served twice before a lane that queued after them.
   */
  #lastServed: string | undefined;

  constructor(size: number) {
    this.#free = size;
  }

  async acquire(lane: string): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      this.#lastServed = lane;
      return;
    }
    await new Promise<void>((resolve) => {
      const waiting = this.#lanes.get(lane);
      if (waiting) waiting.push(resolve);
      else this.#lanes.set(lane, [resolve]);
    });
  }

  release(): void {
    const order = this.#lanes.entries();
    let first = order.next();
    if (first.done) {
      this.#free++;
      return;
    }
    if (first.value[0] === this.#lastServed && this.#lanes.size > 1) first = order.next();
    const [lane, waiting] = first.value as [string, Array<() => void>];
    this.#lastServed = lane;
    this.#lanes.delete(lane);
    const next = waiting.shift() as () => void;
    if (waiting.length > 0) this.#lanes.set(lane, waiting);
    next();
  }
}

/**
 * Per-operation pacing after throttling: a client-side mirror of EC2's token bucket refill,
 * switched on by a `RequestLimitExceeded` and off again after a quiet period.
 */
class Pacer {
  readonly #next = new Map<string, number>();
  readonly #until = new Map<string, number>();
  readonly #intervalMs: number;
  readonly #quietMs: number;

  constructor(perSecond: number, quietMs: number) {
    this.#intervalMs = 1000 / perSecond;
    this.#quietMs = quietMs;
  }

  /** Resolves when `operation` may send its next attempt. */
  async wait(operation: string): Promise<void> {
    const now = Date.now();
    if ((this.#until.get(operation) ?? 0) <= now) return;
    const at = Math.max(now, this.#next.get(operation) ?? now);
    this.#next.set(operation, at + this.#intervalMs);
    if (at > now) await new Promise((resolve) => setTimeout(resolve, at - now));
  }

  throttled(operation: string): void {
    this.#until.set(operation, Date.now() + this.#quietMs);
  }
}

function classify(error: unknown, timedOut: boolean): { outcome: CallOutcome; code: string } {
  if (timedOut) return { outcome: "timeout", code: "timeout" };
  const e = (error ?? {}) as SdkErrorShape;
  const status = e.$metadata?.httpStatusCode;
  const name = e.name ?? "Error";
  if (status !== undefined) {
    // EC2 signals throttling with this one code (HTTP 503); the SDK puts it in `name`.
    if (name === "RequestLimitExceeded") return { outcome: "throttled", code: name };
    if (status >= 500) return { outcome: "server-error", code: name };
    return { outcome: "client-error", code: name };
  }
  if (typeof e.code === "string" && NETWORK_CODES.has(e.code))
    return { outcome: "network", code: e.code };
  // Not sent, or no answer we understand (e.g. no credentials): retrying will not help.
  return { outcome: "error", code: name };
}

/**
 * Bounds on one write: a lane for fair slots, a deadline no attempt may outlive (the action's,
 * and less than the time left on a lease, which renewals extend), a check before every attempt
 * (a newer decision or a lost lease stops the call), and one before each retry that may read
 * EC2 (the fence on the table).
 */
export interface CallGuard {
  lane?: string;
  /** performance.now() time by which the call ends, sent or not; asked before every attempt. */
  deadline?: () => number;
  /** Runs with the attempt's slot in hand; throws (CallCancelled) to stop the call. */
  check?: () => void;
  /** Runs before each retry, without a slot (it may read EC2); throws to stop the call. */
  beforeRetry?: () => Promise<void>;
}

/** Thrown by a guard's check: the code names why the call stopped. */
export class CallCancelled extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "CallCancelled";
    this.code = code;
  }
}

/** Whether `error` is EC2's answer with one of `codes`. */
export function isCode(error: unknown, codes: string[]): boolean {
  return error instanceof Ec2Error && codes.includes(error.code);
}

export type Send<T> = (sdk: EC2Client, options: { abortSignal: AbortSignal }) => Promise<T>;

export class Ec2 {
  readonly sdk: EC2Client;
  /** The endpoint override in effect, if any. */
  readonly endpoint: string | undefined;
  readonly calls = new Ec2CallCounter();
  readonly options: Ec2Options;
  readonly #slots: Slots;
  readonly #pacer: Pacer;

  constructor(
    fleet: Pick<Fleet, "region" | "endpoint">,
    options: Partial<Ec2Options> = {},
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.options = { ...DEFAULT_EC2_OPTIONS, ...options };
    this.#slots = new Slots(this.options.concurrency);
    this.#pacer = new Pacer(this.options.pacedPerSecond, this.options.pacedQuietMs);
    this.endpoint = fleet.endpoint ?? env.AWS_ENDPOINT_URL_EC2;
    if (this.endpoint !== undefined && !URL.canParse(this.endpoint))
      throw new Error(`EC2 endpoint is not a URL: ${this.endpoint}`);
    this.sdk = new EC2Client({
      region: fleet.region,
      endpoint: this.endpoint,
      // Retries are ours: one attempt per SDK send, so none is hidden from the counter and
      // none is multiplied by a second retry layer. Set in code, so AWS_MAX_ATTEMPTS cannot
      // turn the SDK's back on.
      maxAttempts: 1,
    });
  }

  /**
   * Runs `send` (one SDK command) with a deadline per attempt, retrying throttling, 5xx,
   * timeouts and dropped connections with full-jitter backoff. `operation` names it in the
   * counters and errors; `guard` bounds the whole call. Throws Ec2Error.
   */
  async call<T>(operation: string, send: Send<T>, guard: CallGuard = {}): Promise<T> {
    const lane = guard.lane ?? "";
    const left = () => (guard.deadline?.() ?? Number.POSITIVE_INFINITY) - performance.now();
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) await this.#guarded(operation, attempt, () => guard.beforeRetry?.());
      // Paced before taking a slot, so a waiting operation does not hold back others.
      await this.#pacer.wait(operation);
      await this.#slots.acquire(lane);
      let timedOut: AbortSignal;
      try {
        // Read from the clock, not a timer, with the slot in hand: a process paused and
        // resumed sees its deadline gone before any timer has fired.
        if (left() <= 0)
          throw this.#cancelled(operation, "deadline", attempt - 1, "deadline passed");
        await this.#guarded(operation, attempt, () => guard.check?.());
        // The deadline starts once the attempt has a slot: queueing is not the call's fault.
        // AbortSignal.timeout takes whole milliseconds only (a RangeError otherwise), and the
        // deadline comes from performance.now(), which is fractional.
        timedOut = AbortSignal.timeout(Math.ceil(Math.min(this.options.callTimeoutMs, left())));
      } catch (error) {
        this.#slots.release();
        throw error;
      }
      try {
        const result = await send(this.sdk, { abortSignal: timedOut });
        this.calls.record(operation, "ok");
        return result;
      } catch (error) {
        const { outcome, code } = classify(error, timedOut.aborted);
        this.calls.record(operation, outcome);
        if (outcome === "throttled") this.#pacer.throttled(operation);
        if (!RETRYABLE.has(outcome) || attempt >= this.options.maxAttempts)
          throw new Ec2Error(operation, code, outcome, attempt, error);
      } finally {
        // Released before the backoff sleep: a waiting retry must not hold back other calls.
        this.#slots.release();
      }
      const pause = fullJitterDelay(attempt, this.options);
      if (pause >= left())
        throw this.#cancelled(operation, "deadline", attempt, "no time left for a retry");
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }

  /** Runs a guard's check; its CallCancelled (or any error) stops the call as `cancelled`. */
  async #guarded(operation: string, attempt: number, check: () => unknown): Promise<void> {
    try {
      await check();
    } catch (error) {
      const code = error instanceof CallCancelled ? error.code : "cancelled";
      throw this.#cancelled(operation, code, attempt - 1, error);
    }
  }

  #cancelled(operation: string, code: string, attempts: number, cause: unknown): Ec2Error {
    this.calls.record(operation, "cancelled");
    return new Ec2Error(operation, code, "cancelled", attempts, cause);
  }

  destroy(): void {
    this.sdk.destroy();
  }
}
