import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type {
  ClaimResult,
  Lease,
  LeaseCallCounter,
  LeaseCallOutcome,
  LeaseOperation,
  LeaseStoreApi,
  ReleaseResult,
  RenewResult,
} from "./store.ts";

/**
 * The lease keeper of one controller: told which connection sides it wants, it claims,
 * renews and releases their leases through the store, and says which it holds and for how
 * long. A functional core (leaseStep, leaseSettle: pure, tested with tables) and a thin shell
 * (LeaseKeeper: timers, calls, deadlines). See docs/leases.md.
 *
 * Two clocks. Lease items carry wall-clock times (`expiresAt`), which other controllers compare
 * with their own wall clocks: controllers' clocks must agree within `skewMs` (NTP, Amazon
 * Time Sync). A held lease's local validity is measured on the monotonic clock from the moment
 * the successful claim or renew was *sent*, so a process that was paused (SIGSTOP, a long GC,
 * a stalled VM) finds on resuming that its lease ran out, whatever the wall clock did. It is
 * also bounded by the wall-clock expiry it wrote, minus the same safety: that bound can only
 * end a lease earlier, and catches a monotonic clock that stood still while the machine was
 * suspended (Linux's CLOCK_MONOTONIC does not count suspend, e.g. EC2 hibernation).
 */

export interface LeaseTiming {
  ttlMs: number;
  /** A held lease is renewed this long after its last successful claim or renew was sent. */
  renewEveryMs: number;
  /** Local validity ends this long before the lease expires: room for writes still in flight. */
  safetyMs: number;
  /** Another's lease is claimed only once it expired this long ago by the local wall clock. */
  skewMs: number;
  /** Deadline of one DynamoDB request (whole ms are used). */
  callTimeoutMs: number;
  /** Wait after a failed request before the next one for that side. */
  retryMs: number;
}

/**
 * Defaults for a lease of `ttlMs`: renew every ttl/3, safety max(500, ttl/10), skew
 * min(1000, max(100, ttl/10)), deadline min(2000, ttl/3), retry max(100, ttl/12).
 */
export function leaseTiming(ttlMs: number, overrides: Partial<LeaseTiming> = {}): LeaseTiming {
  const timing: LeaseTiming = {
    ttlMs,
    renewEveryMs: ttlMs / 3,
    safetyMs: Math.max(500, ttlMs / 10),
    skewMs: Math.min(1000, Math.max(100, ttlMs / 10)),
    callTimeoutMs: Math.min(2000, ttlMs / 3),
    retryMs: Math.max(100, ttlMs / 12),
    ...overrides,
  };
  if (timing.safetyMs + timing.renewEveryMs >= timing.ttlMs)
    throw new Error(
      `lease timing: a lease of ${ttlMs} ms cannot be renewed every ${timing.renewEveryMs} ms with ${timing.safetyMs} ms of safety`,
    );
  return timing;
}

/** Both clocks at one instant: `mono` from performance.now(), `wall` from Date.now(). */
export interface Now {
  mono: number;
  wall: number;
}

/** What the keeper knows of one side's lease. Times named `…At`/`…Until` are monotonic unless said. */
export type SideLease =
  /** Nothing usable known: read it (when wanted) from `readAt` on. */
  | { kind: "unknown"; readAt: number }
  /** The last answer showed `lease` (undefined: no item), not held by us; read again from `readAt`. */
  | { kind: "seen"; lease: Lease | undefined; readAt: number }
  /** Ours at `epoch`, valid while mono < validUntil and wall < wallUntil; renew from `renewAt`. */
  | { kind: "held"; epoch: number; validUntil: number; wallUntil: number; renewAt: number };

export type LeaseCallOp = "read" | "claim" | "renew" | "release";

/** A request in flight, as the shell started it. */
export interface InFlight {
  op: LeaseCallOp;
  /** Both clocks when it was sent: validity counts from here. */
  sent: Now;
  epoch?: number;
}

export interface SideEntry {
  lease: SideLease;
  busy?: InFlight;
}

/** A request leaseStep wants sent, with its deadline. */
export interface LeaseCall {
  side: string;
  op: LeaseCallOp;
  /** For renew and release. */
  epoch?: number;
  deadlineMs: number;
}

export type LeaseEvent =
  | { side: string; kind: "acquired"; epoch: number }
  /** `expired`: local validity ran out (renewals failed or came too late); `taken`: a renew or claim found another holder. */
  | { side: string; kind: "lost"; epoch: number; reason: "expired" | "taken" }
  | { side: string; kind: "released"; epoch: number };

export interface StepResult {
  sides: Map<string, SideEntry>;
  calls: LeaseCall[];
  events: LeaseEvent[];
  /** Monotonic time at which the next step has something to do (Infinity: nothing until told). */
  nextAt: number;
}

/** Whether a held lease is still valid locally. */
export function heldValid(lease: SideLease, now: Now): boolean {
  return lease.kind === "held" && now.mono < lease.validUntil && now.wall < lease.wallUntil;
}

/** Whether `lease`, as last seen, may be claimed now by `holder`. */
export function claimable(
  lease: Lease | undefined,
  holder: string,
  now: Now,
  timing: LeaseTiming,
): boolean {
  return (
    lease === undefined || lease.holder === holder || lease.expiresAt + timing.skewMs < now.wall
  );
}

/**
 * One decision over every side: which requests to send now, which leases lapsed, and when
 * to decide again. Sides neither wanted, held nor busy are forgotten. Pure.
 */
export function leaseStep(
  sides: ReadonlyMap<string, SideEntry>,
  now: Now,
  wanted: ReadonlySet<string>,
  holder: string,
  timing: LeaseTiming,
): StepResult {
  const out: StepResult = { sides: new Map(), calls: [], events: [], nextAt: Infinity };
  const due = (at: number) => {
    out.nextAt = Math.min(out.nextAt, at);
  };
  for (const side of new Set([...sides.keys(), ...wanted])) {
    let entry: SideEntry = sides.get(side) ?? { lease: { kind: "unknown", readAt: now.mono } };
    if (entry.lease.kind === "held" && !heldValid(entry.lease, now)) {
      out.events.push({ side, kind: "lost", epoch: entry.lease.epoch, reason: "expired" });
      entry = { ...entry, lease: { kind: "unknown", readAt: now.mono } };
    }
    const { lease, busy } = entry;
    if (busy) {
      if (lease.kind === "held")
        due(Math.min(lease.validUntil, now.mono + (lease.wallUntil - now.wall)));
      out.sides.set(side, entry);
      continue;
    }
    const send = (op: LeaseCallOp, deadlineMs: number, epoch?: number) => {
      // Whole milliseconds (AbortSignal.timeout's unit), never past the given bound.
      const ms = Math.max(1, Math.floor(deadlineMs));
      out.calls.push({ side, op, deadlineMs: ms, ...(epoch !== undefined && { epoch }) });
      return { op, sent: now, ...(epoch !== undefined && { epoch }) };
    };
    const want = wanted.has(side);
    if (lease.kind === "held") {
      if (!want) {
        out.events.push({ side, kind: "released", epoch: lease.epoch });
        out.sides.set(side, {
          lease: { kind: "unknown", readAt: now.mono },
          busy: send("release", timing.callTimeoutMs, lease.epoch),
        });
      } else if (now.mono >= lease.renewAt) {
        // Never waits past local validity: an answer after it would come too late anyway.
        const left = Math.min(lease.validUntil - now.mono, lease.wallUntil - now.wall);
        out.sides.set(side, {
          lease,
          busy: send("renew", Math.min(timing.callTimeoutMs, left), lease.epoch),
        });
        due(now.mono + left);
      } else {
        out.sides.set(side, entry);
        due(Math.min(lease.renewAt, lease.validUntil, now.mono + (lease.wallUntil - now.wall)));
      }
      continue;
    }
    if (!want) continue;
    if (lease.kind === "seen" && claimable(lease.lease, holder, now, timing)) {
      out.sides.set(side, { lease, busy: send("claim", timing.callTimeoutMs) });
    } else if (now.mono >= lease.readAt) {
      out.sides.set(side, { lease, busy: send("read", timing.callTimeoutMs) });
    } else {
      out.sides.set(side, entry);
      due(lease.readAt);
      if (lease.kind === "seen" && lease.lease)
        // Claimable once its expiry plus the skew has passed on the wall clock.
        due(now.mono + (lease.lease.expiresAt + timing.skewMs - now.wall) + 1);
    }
  }
  return out;
}

/** A request's answer, or its failure. */
export type CallAnswer =
  | { op: "read"; lease: Lease | undefined }
  | { op: "claim"; result: ClaimResult }
  | { op: "renew"; result: RenewResult }
  | { op: "release"; result: ReleaseResult }
  | { op: LeaseCallOp; error: unknown };

/**
 * The side's entry once `answer` came back for its request in flight (`entry.busy`), and what
 * happened. Pure.
 */
export function leaseSettle(
  entry: SideEntry,
  side: string,
  answer: CallAnswer,
  now: Now,
  holder: string,
  timing: LeaseTiming,
): { entry: SideEntry; events: LeaseEvent[] } {
  const events: LeaseEvent[] = [];
  const sent = entry.busy?.sent ?? now;
  const was = entry.lease;
  const seen = (lease: Lease | undefined): SideLease => ({
    kind: "seen",
    lease,
    readAt: now.mono + timing.renewEveryMs,
  });
  const retry: SideLease = { kind: "unknown", readAt: now.mono + timing.retryMs };
  /** Held from this answer on, when a claim or renew sent at `sent` succeeded. */
  const hold = (lease: Lease): SideLease => {
    const held: SideLease = {
      kind: "held",
      epoch: lease.epoch,
      validUntil: sent.mono + timing.ttlMs - timing.safetyMs,
      wallUntil: sent.wall + timing.ttlMs - timing.safetyMs,
      renewAt: sent.mono + timing.renewEveryMs,
    };
    // Slower than the lease itself (a paused process): ours in the store, not usable here.
    if (!heldValid(held, now)) return seen(lease);
    if (was.kind !== "held" || was.epoch !== lease.epoch)
      events.push({ side, kind: "acquired", epoch: lease.epoch });
    return held;
  };
  /** Refused: whoever holds it now, if DynamoDB said. */
  const refused = (current: Lease | undefined): SideLease => {
    if (was.kind === "held") events.push({ side, kind: "lost", epoch: was.epoch, reason: "taken" });
    return current ? seen(current) : retry;
  };
  let lease: SideLease;
  if ("error" in answer) {
    // A renew that failed leaves the lease held until its validity ends; try again soon.
    lease = was.kind === "held" ? { ...was, renewAt: now.mono + timing.retryMs } : retry;
  } else if (answer.op === "read") {
    lease = seen(answer.lease);
  } else if (answer.op === "release") {
    const epoch = entry.busy?.epoch ?? 0;
    lease = answer.result.ok
      ? seen({ side, holder, epoch, expiresAt: 0 })
      : answer.result.current
        ? seen(answer.result.current)
        : retry;
  } else {
    const r = answer.result;
    lease = r.ok ? hold(r.lease) : refused(r.current);
  }
  return { entry: { lease }, events };
}

/** `${hostname}/${pid}/${random}`: unique per process, readable in the table. */
export function defaultHolder(): string {
  return `${hostname()}/${process.pid}/${randomBytes(4).toString("hex")}`;
}

export interface Clock {
  mono(): number;
  wall(): number;
}

const SYSTEM_CLOCK: Clock = { mono: () => performance.now(), wall: () => Date.now() };

export interface LeaseKeeperOptions {
  /** Its own store (the call counters are the store's). */
  store: LeaseStoreApi;
  /** This controller's identity in the table; default defaultHolder(). */
  holder?: string;
  ttlMs: number;
  timing?: Partial<Omit<LeaseTiming, "ttlMs">>;
  clock?: Clock;
  /** Every acquired, lost and released lease, as it happens; for the controller's log. */
  onEvent?: (event: LeaseEvent & { at: number }) => void;
  /** Runs steps on its own timers (default); off, only tick() does. */
  timers?: boolean;
}

export interface HeldLease {
  epoch: number;
  /** Time left on the lease locally; give each EC2 request a deadline within it. */
  validForMs: number;
  /** performance.now() at which it ends. */
  validUntil: number;
}

export interface LeaseKeeperStats {
  /** DynamoDB requests by operation and outcome, since the keeper started. */
  calls: Partial<Record<LeaseOperation, Partial<Record<LeaseCallOutcome, number>>>>;
  requests: number;
  elapsedMs: number;
  wanted: number;
  held: number;
}

const EVENTS_KEPT = 100;

export class LeaseKeeper {
  readonly holder: string;
  readonly timing: LeaseTiming;
  readonly #store: LeaseStoreApi;
  readonly #clock: Clock;
  readonly #onEvent: LeaseKeeperOptions["onEvent"];
  readonly #timers: boolean;
  readonly #started: number;
  readonly #wanted = new Set<string>();
  readonly #floors = new Map<string, number>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #events: Array<LeaseEvent & { at: number }> = [];
  #sides = new Map<string, SideEntry>();
  #timer: NodeJS.Timeout | undefined;
  #state: "running" | "stopping" | "stopped" = "running";
  #idle: (() => void) | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: LeaseKeeperOptions) {
    this.holder = options.holder ?? defaultHolder();
    this.timing = leaseTiming(options.ttlMs, options.timing);
    this.#store = options.store;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#onEvent = options.onEvent;
    this.#timers = options.timers ?? true;
    this.#started = this.#clock.mono();
  }

  get calls(): LeaseCallCounter {
    return this.#store.calls;
  }

  /**
   * Whether this controller wants `side`; a side no longer wanted is released.
   * `epochFloor`: the highest epoch seen for the side elsewhere (fence tags), used only if its
   * lease item is missing (store.ts, ClaimOptions).
   */
  want(side: string, yes: boolean, { epochFloor }: { epochFloor?: number } = {}): void {
    if (this.#state !== "running") return;
    if (yes) this.#wanted.add(side);
    else this.#wanted.delete(side);
    if (yes && epochFloor !== undefined) this.#floors.set(side, epochFloor);
    if (!yes) this.#floors.delete(side);
  }

  /** The sides wanted now. */
  wanted(): string[] {
    return [...this.#wanted];
  }

  /** Starts what is due (claims, renewals, reads, releases) and returns at once. */
  tick(): void {
    if (this.#state === "stopped") return;
    const now = this.#now();
    const step = leaseStep(this.#sides, now, this.#wanted, this.holder, this.timing);
    this.#sides = step.sides;
    this.#emit(step.events);
    for (const call of step.calls) this.#start(call);
    this.#schedule(step.nextAt, now.mono);
    this.#checkIdle();
  }

  /**
   * The lease on `side` if this controller holds it and it is valid locally; undefined
   * otherwise (then write nothing for that side).
   */
  holds(side: string): HeldLease | undefined {
    if (this.#state !== "running") return undefined;
    const lease = this.#sides.get(side)?.lease;
    const now = this.#now();
    if (lease?.kind !== "held" || !heldValid(lease, now)) return undefined;
    const validForMs = Math.min(lease.validUntil - now.mono, lease.wallUntil - now.wall);
    return { epoch: lease.epoch, validForMs, validUntil: now.mono + validForMs };
  }

  /** Every side held and locally valid now. */
  held(): Map<string, HeldLease> {
    const out = new Map<string, HeldLease>();
    for (const side of this.#sides.keys()) {
      const h = this.holds(side);
      if (h) out.set(side, h);
    }
    return out;
  }

  /** The last events (acquired, lost, released), oldest first, with wall-clock `at`. */
  events(): ReadonlyArray<LeaseEvent & { at: number }> {
    return [...this.#events];
  }

  stats(): LeaseKeeperStats {
    return {
      calls: this.#store.calls.snapshot(),
      requests: this.#store.calls.count(),
      elapsedMs: this.#clock.mono() - this.#started,
      wanted: this.#wanted.size,
      held: this.held().size,
    };
  }

  /** Stops wanting `side` and resolves once its lease is released (or the release failed). */
  async release(side: string): Promise<void> {
    this.want(side, false);
    this.tick();
    while (this.#sides.get(side)?.busy) await Promise.race(this.#inFlight);
  }

  /**
   * Releases every lease held and stops, within `timeoutMs` (default: two request deadlines).
   * From the first moment, holds() answers undefined. Waits for requests in flight (their
   * deadlines bound them), then for the releases.
   */
  stop(timeoutMs = 2 * this.timing.callTimeoutMs + 100): Promise<void> {
    this.#stopping ??= this.#stop(timeoutMs);
    return this.#stopping;
  }

  async #stop(timeoutMs: number): Promise<void> {
    if (this.#state !== "running") return;
    this.#state = "stopping";
    this.#wanted.clear();
    this.#floors.clear();
    const idle = new Promise<void>((resolve) => {
      this.#idle = resolve;
    });
    this.tick();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      idle,
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    this.#halt();
  }

  /**
   * Stops at once without releasing anything: the leases run out in the table. For tests
   * that simulate a controller that died; answers still in flight are ignored.
   */
  abandon(): void {
    this.#halt();
  }

  #halt(): void {
    this.#state = "stopped";
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#sides = new Map();
    this.#idle?.();
  }

  #now(): Now {
    return { mono: this.#clock.mono(), wall: this.#clock.wall() };
  }

  #emit(events: LeaseEvent[]): void {
    for (const e of events) {
      const stamped = { ...e, at: this.#clock.wall() };
      this.#events.push(stamped);
      if (this.#events.length > EVENTS_KEPT) this.#events.shift();
      try {
        this.#onEvent?.(stamped);
      } catch {
        // The caller's logging must not break the keeper.
      }
    }
  }

  #start(call: LeaseCall): void {
    const signal = AbortSignal.timeout(call.deadlineMs);
    const { side } = call;
    const sent = this.#sides.get(side)?.busy?.sent ?? this.#now();
    const run = async (): Promise<CallAnswer> => {
      try {
        switch (call.op) {
          case "read":
            return { op: "read", lease: await this.#store.read(side, { signal }) };
          case "claim":
            return {
              op: "claim",
              result: await this.#store.claim(side, this.holder, this.timing.ttlMs, sent.wall, {
                signal,
                skewMs: this.timing.skewMs,
                epochFloor: this.#floors.get(side) ?? 0,
              }),
            };
          case "renew":
            return {
              op: "renew",
              result: await this.#store.renew(
                side,
                this.holder,
                call.epoch ?? 0,
                this.timing.ttlMs,
                sent.wall,
                { signal },
              ),
            };
          case "release":
            return {
              op: "release",
              result: await this.#store.release(side, this.holder, call.epoch ?? 0, { signal }),
            };
        }
      } catch (error) {
        return { op: call.op, error };
      }
    };
    const done = run().then((answer) => {
      this.#inFlight.delete(done);
      if (this.#state === "stopped") return;
      const entry = this.#sides.get(side);
      if (!entry?.busy) return;
      const settled = leaseSettle(entry, side, answer, this.#now(), this.holder, this.timing);
      this.#sides.set(side, settled.entry);
      this.#emit(settled.events);
      this.tick();
    });
    this.#inFlight.add(done);
  }

  #schedule(nextAt: number, nowMono: number): void {
    if (!this.#timers || this.#state === "stopped") return;
    clearTimeout(this.#timer);
    // At least once a second, so that want() changes are acted on without a tick().
    const delay = Math.max(1, Math.min(1000, Math.ceil(nextAt - nowMono)));
    this.#timer = setTimeout(() => this.tick(), delay);
    this.#timer.unref();
  }

  #checkIdle(): void {
    if (this.#state !== "stopping") return;
    const busy = [...this.#sides.values()].some((e) => e.busy || e.lease.kind === "held");
    if (!busy) this.#idle?.();
  }
}
