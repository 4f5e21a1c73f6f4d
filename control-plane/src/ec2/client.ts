import { EC2Client } from "@aws-sdk/client-ec2";
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

/** Socket-level failures: the request may or may not have reached EC2. */
const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENOTFOUND",
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

/** Attempts by operation and outcome, for metrics and benchmarks. */
export class CallCounter {
  readonly #counts = new Map<string, Map<CallOutcome, number>>();

  record(operation: string, outcome: CallOutcome): void {
    let byOutcome = this.#counts.get(operation);
    if (!byOutcome) {
      byOutcome = new Map();
      this.#counts.set(operation, byOutcome);
    }
    byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1);
  }

  /** Attempts of `operation` (all when omitted) that ended in `outcome` (any when omitted). */
  count(operation?: string, outcome?: CallOutcome): number {
    let n = 0;
    for (const [op, byOutcome] of this.#counts) {
      if (operation !== undefined && op !== operation) continue;
      for (const [o, c] of byOutcome) if (outcome === undefined || o === outcome) n += c;
    }
    return n;
  }

  snapshot(): Record<string, Partial<Record<CallOutcome, number>>> {
    const out: Record<string, Partial<Record<CallOutcome, number>>> = {};
    for (const [op, byOutcome] of this.#counts) out[op] = Object.fromEntries(byOutcome);
    return out;
  }

  reset(): void {
    this.#counts.clear();
  }
}

/** Sleep before retry `retry` (1-based): uniform in [0, min(max, base·2^(retry-1))). */
export function fullJitterDelay(
  retry: number,
  opts: Pick<Ec2Options, "baseDelayMs" | "maxDelayMs">,
  random: () => number = Math.random,
): number {
  return random() * Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** (retry - 1));
}

class Semaphore {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(size: number) {
    this.#free = size;
  }

  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
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

interface SdkErrorShape {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
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

export type Send<T> = (sdk: EC2Client, options: { abortSignal: AbortSignal }) => Promise<T>;

export class Ec2 {
  readonly sdk: EC2Client;
  /** The endpoint override in effect, if any. */
  readonly endpoint: string | undefined;
  readonly calls = new CallCounter();
  readonly options: Ec2Options;
  readonly #slots: Semaphore;
  readonly #pacer: Pacer;

  constructor(
    fleet: Pick<Fleet, "region" | "endpoint">,
    options: Partial<Ec2Options> = {},
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.options = { ...DEFAULT_EC2_OPTIONS, ...options };
    this.#slots = new Semaphore(this.options.concurrency);
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
   * counters and errors. Throws Ec2Error.
   */
  async call<T>(operation: string, send: Send<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      // Paced before taking a slot, so a waiting operation does not hold back others.
      await this.#pacer.wait(operation);
      await this.#slots.acquire();
      // The deadline starts once the attempt has a slot: queueing is not the call's fault.
      const abortSignal = AbortSignal.timeout(this.options.callTimeoutMs);
      try {
        const result = await send(this.sdk, { abortSignal });
        this.calls.record(operation, "ok");
        return result;
      } catch (error) {
        const { outcome, code } = classify(error, abortSignal.aborted);
        this.calls.record(operation, outcome);
        if (outcome === "throttled") this.#pacer.throttled(operation);
        if (!RETRYABLE.has(outcome) || attempt >= this.options.maxAttempts)
          throw new Ec2Error(operation, code, outcome, attempt, error);
      } finally {
        // Released before the backoff sleep: a waiting retry must not hold back other calls.
        this.#slots.release();
      }
      await new Promise((resolve) => setTimeout(resolve, fullJitterDelay(attempt, this.options)));
    }
  }

  destroy(): void {
    this.sdk.destroy();
  }
}
