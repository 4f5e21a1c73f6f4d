import t from "tap";
import {
  type CallAnswer,
  type Clock,
  type InFlight,
  type LeaseCall,
  type LeaseEvent,
  LeaseKeeper,
  leaseSettle,
  leaseStep,
  leaseTiming,
  type Now,
  type SideEntry,
  type SideLease,
} from "../../control-plane/src/leases/keeper.ts";
import {
  type CallOptions,
  type ClaimOptions,
  type ClaimResult,
  type Lease,
  LeaseCallCounter,
  type LeaseStoreApi,
  LeaseStoreError,
  type ReleaseResult,
  type RenewResult,
} from "../../control-plane/src/leases/store.ts";

/**
 * The keeper's functional core as tables (leaseStep: what to send; leaseSettle: what an answer
 * means), then the shell over an in-memory store with DynamoDB's conditions, a hand-driven
 * clock and no timers of its own.
 */

const ME = "me";
const OTHER = "other";
// ttl 3000: renew every 1000, safety 500, skew 300, deadline 1000, retry 250.
const T = leaseTiming(3000);
const WALL0 = 1_800_000_000_000;
/** Both clocks `ms` after the start; `wallDrift` moves the wall clock alone. */
const at = (ms: number, wallDrift = 0): Now => ({ mono: ms, wall: WALL0 + ms + wallDrift });

const held = (epoch: number, sentMs: number): SideLease => ({
  kind: "held",
  epoch,
  validUntil: sentMs + T.ttlMs - T.safetyMs,
  wallUntil: WALL0 + sentMs + T.ttlMs - T.safetyMs,
  renewAt: sentMs + T.renewEveryMs,
});
const lease = (holder: string, epoch: number, expiresInMs: number, fromMs = 0): Lease => ({
  side: "s",
  holder,
  epoch,
  expiresAt: WALL0 + fromMs + expiresInMs,
});
const seen = (l: Lease | undefined, readAt = 1000): SideLease => ({
  kind: "seen",
  lease: l,
  readAt,
});

t.test("timing defaults follow the ttl", async (t) => {
  t.same(leaseTiming(15_000), {
    ttlMs: 15_000,
    renewEveryMs: 5000,
    safetyMs: 1500,
    skewMs: 1000,
    callTimeoutMs: 2000,
    retryMs: 1250,
  });
  const short = leaseTiming(2000);
  t.same(
    [short.renewEveryMs.toFixed(0), short.safetyMs, short.skewMs, short.callTimeoutMs.toFixed(0)],
    ["667", 500, 200, "667"],
  );
  t.throws(() => leaseTiming(2000, { safetyMs: 1400 }), /cannot be renewed/);
});

interface StepCase {
  name: string;
  entry?: SideEntry;
  wanted: boolean;
  now: Now;
  calls: Array<Pick<LeaseCall, "op" | "deadlineMs" | "epoch">>;
  events?: LeaseEvent["kind"][];
  /** The side's lease kind after the step, when given. */
  after?: SideLease["kind"] | "forgotten";
  nextAt?: number;
}

const STEP_CASES: StepCase[] = [
  {
    name: "a new side wanted: read it first",
    wanted: true,
    now: at(0),
    calls: [{ op: "read", deadlineMs: 1000 }],
    after: "unknown",
  },
  {
    name: "a side neither wanted nor held is forgotten",
    wanted: false,
    now: at(0),
    calls: [],
    after: "forgotten",
  },
  {
    name: "no lease item: claim",
    entry: { lease: seen(undefined) },
    wanted: true,
    now: at(0),
    calls: [{ op: "claim", deadlineMs: 1000 }],
    after: "seen",
  },
  {
    name: "another's running lease: wait for the next read or its expiry + skew",
    entry: { lease: seen(lease(OTHER, 4, 2000)) },
    wanted: true,
    now: at(0),
    calls: [],
    after: "seen",
    nextAt: 1000,
  },
  {
    name: "another's lease due to expire before the next read: wake up at expiry + skew",
    entry: { lease: seen(lease(OTHER, 4, 200), 1000) },
    wanted: true,
    now: at(0),
    calls: [],
    nextAt: 200 + 300 + 1,
  },
  {
    name: "expired, but within the skew margin: no claim yet",
    entry: { lease: seen(lease(OTHER, 4, 2000), 5000) },
    wanted: true,
    now: at(2300),
    calls: [],
  },
  {
    name: "expired beyond the skew margin: claim without reading again",
    entry: { lease: seen(lease(OTHER, 4, 2000), 5000) },
    wanted: true,
    now: at(2301),
    calls: [{ op: "claim", deadlineMs: 1000 }],
  },
  {
    name: "the wall clock decides expiry: claimable after a wall jump alone",
    entry: { lease: seen(lease(OTHER, 4, 2000), 5000) },
    wanted: true,
    now: at(0, 2301),
    calls: [{ op: "claim", deadlineMs: 1000 }],
  },
  {
    name: "released (expiresAt 0): claim",
    entry: { lease: seen({ side: "s", holder: OTHER, epoch: 4, expiresAt: 0 }) },
    wanted: true,
    now: at(0),
    calls: [{ op: "claim", deadlineMs: 1000 }],
  },
  {
    name: "our own lease still running in the table (after a local lapse): claim it back",
    entry: { lease: seen(lease(ME, 4, 2000)) },
    wanted: true,
    now: at(0),
    calls: [{ op: "claim", deadlineMs: 1000 }],
  },
  {
    name: "another's lease, read due: read",
    entry: { lease: seen(lease(OTHER, 4, 5000), 1000) },
    wanted: true,
    now: at(1000),
    calls: [{ op: "read", deadlineMs: 1000 }],
  },
  {
    name: "another's lease, not wanted: forgotten, no read",
    entry: { lease: seen(lease(OTHER, 4, 5000), 0) },
    wanted: false,
    now: at(1000),
    calls: [],
    after: "forgotten",
  },
  {
    name: "unknown after a failure: read only from readAt",
    entry: { lease: { kind: "unknown", readAt: 250 } },
    wanted: true,
    now: at(100),
    calls: [],
    after: "unknown",
    nextAt: 250,
  },
  {
    name: "held, renewal not due: nothing, wake at renewAt",
    entry: { lease: held(7, 0) },
    wanted: true,
    now: at(999),
    calls: [],
    after: "held",
    nextAt: 1000,
  },
  {
    name: "held, renewal due: renew at its epoch, with the usual deadline",
    entry: { lease: held(7, 0) },
    wanted: true,
    now: at(1000),
    calls: [{ op: "renew", epoch: 7, deadlineMs: 1000 }],
    after: "held",
  },
  {
    name: "held, renewal late: the deadline never passes local validity",
    entry: { lease: held(7, 0) },
    wanted: true,
    now: at(2100),
    calls: [{ op: "renew", epoch: 7, deadlineMs: 400 }],
  },
  {
    name: "held, renewal late, wall clock ahead: the deadline follows the wall bound too",
    entry: { lease: held(7, 0) },
    wanted: true,
    now: at(2100, 300),
    calls: [{ op: "renew", epoch: 7, deadlineMs: 100 }],
  },
  {
    name: "local validity over (monotonic): lost, expired; read again at once",
    entry: { lease: held(7, 0) },
    wanted: true,
    now: at(2500),
    calls: [{ op: "read", deadlineMs: 1000 }],
    events: ["lost"],
    after: "unknown",
  },
  {
    name: "the monotonic clock stood still (suspend) but the wall clock did not: lost",
    entry: { lease: held(7, 0) },
    wanted: true,
    now: at(100, 60_000),
    calls: [{ op: "read", deadlineMs: 1000 }],
    events: ["lost"],
  },
  {
    name: "held, no longer wanted: release at its epoch, not held from now on",
    entry: { lease: held(7, 0) },
    wanted: false,
    now: at(10),
    calls: [{ op: "release", epoch: 7, deadlineMs: 1000 }],
    events: ["released"],
    after: "unknown",
  },
  {
    name: "a request in flight: nothing more for that side, even when due",
    entry: { lease: held(7, 0), busy: { op: "renew", sent: at(1000), epoch: 7 } },
    wanted: true,
    now: at(1900),
    calls: [],
    after: "held",
    nextAt: 2500,
  },
  {
    name: "a renew in flight past local validity: lost now, the answer settles later",
    entry: { lease: held(7, 0), busy: { op: "renew", sent: at(2000), epoch: 7 } },
    wanted: true,
    now: at(2600),
    calls: [],
    events: ["lost"],
    after: "unknown",
  },
  {
    name: "a read in flight for a side no longer wanted: kept until it settles",
    entry: { lease: seen(undefined), busy: { op: "read", sent: at(0) } },
    wanted: false,
    now: at(10),
    calls: [],
    after: "seen",
  },
];

for (const c of STEP_CASES) {
  t.test(`step: ${c.name}`, async (t) => {
    const sides = new Map(c.entry ? [["s", c.entry]] : []);
    const r = leaseStep(sides, c.now, new Set(c.wanted ? ["s"] : []), ME, T);
    t.same(
      r.calls.map(({ op, deadlineMs, epoch }) => ({
        op,
        deadlineMs,
        ...(epoch !== undefined && { epoch }),
      })),
      c.calls,
      "calls",
    );
    for (const call of r.calls) t.equal(call.side, "s");
    t.same(
      r.events.map((e) => e.kind),
      c.events ?? [],
      "events",
    );
    if (c.after !== undefined)
      t.equal(r.sides.get("s")?.lease.kind ?? "forgotten", c.after, "state after");
    // Whatever was sent is marked in flight, sent now.
    if (r.calls.length > 0) t.same(r.sides.get("s")?.busy?.sent, c.now, "in flight");
    if (c.nextAt !== undefined) t.equal(r.nextAt, c.nextAt, "next step at");
    t.same(sides.get("s"), c.entry, "the input is not changed");
  });
}

t.test("step: sides are decided independently", async (t) => {
  const sides = new Map<string, SideEntry>([
    ["busy", { lease: held(1, 0), busy: { op: "renew", sent: at(1000), epoch: 1 } }],
    ["due", { lease: held(2, 0) }],
    ["new", { lease: { kind: "unknown", readAt: 0 } }],
    ["free", { lease: seen(undefined) }],
    ["gone", { lease: held(3, 0) }],
  ]);
  const r = leaseStep(sides, at(1200), new Set(["busy", "due", "new", "free", "fresh"]), ME, T);
  t.same(r.calls.map((c) => `${c.side}:${c.op}`).sort(), [
    "due:renew",
    "free:claim",
    "fresh:read",
    "gone:release",
    "new:read",
  ]);
  t.same(r.events, [{ side: "gone", kind: "released", epoch: 3 }]);
  t.equal(r.nextAt, 2500, "the busy side's validity end");
});

interface SettleCase {
  name: string;
  was: SideLease;
  busy: InFlight;
  answer: CallAnswer;
  now: Now;
  after: SideLease;
  events?: LeaseEvent[];
}

const failed = (op: LeaseCall["op"]): CallAnswer => ({
  op,
  error: new LeaseStoreError("read", "ECONNREFUSED", "network", "refused"),
});

const SETTLE_CASES: SettleCase[] = [
  {
    name: "read: what it showed, next read one renew interval on",
    was: { kind: "unknown", readAt: 0 },
    busy: { op: "read", sent: at(0) },
    answer: { op: "read", lease: lease(OTHER, 3, 3000) },
    now: at(40),
    after: seen(lease(OTHER, 3, 3000), 1040),
  },
  {
    name: "read: no item",
    was: { kind: "unknown", readAt: 0 },
    busy: { op: "read", sent: at(0) },
    answer: { op: "read", lease: undefined },
    now: at(40),
    after: seen(undefined, 1040),
  },
  {
    name: "claim won: held, valid from when the claim was sent",
    was: seen(undefined),
    busy: { op: "claim", sent: at(100) },
    answer: { op: "claim", result: { ok: true, lease: lease(ME, 1, 3000, 100) } },
    now: at(160),
    after: held(1, 100),
    events: [{ side: "s", kind: "acquired", epoch: 1 }],
  },
  {
    name: "claim won, but the answer came after the lease's local validity: not held",
    was: seen(undefined),
    busy: { op: "claim", sent: at(100) },
    answer: { op: "claim", result: { ok: true, lease: lease(ME, 1, 3000, 100) } },
    now: at(2600),
    after: seen(lease(ME, 1, 3000, 100), 3600),
  },
  {
    name: "claim refused: whoever holds it, as DynamoDB returned it",
    was: seen(lease(OTHER, 1, -1000)),
    busy: { op: "claim", sent: at(100) },
    answer: { op: "claim", result: { ok: false, current: lease(OTHER, 1, 2500) } },
    now: at(150),
    after: seen(lease(OTHER, 1, 2500), 1150),
  },
  {
    name: "claim refused without the item: read again after the retry wait",
    was: seen(undefined),
    busy: { op: "claim", sent: at(100) },
    answer: { op: "claim", result: { ok: false } },
    now: at(150),
    after: { kind: "unknown", readAt: 400 },
  },
  {
    name: "claim failed: read again after the retry wait",
    was: seen(undefined),
    busy: { op: "claim", sent: at(100) },
    answer: failed("claim"),
    now: at(150),
    after: { kind: "unknown", readAt: 400 },
  },
  {
    name: "renewed: validity counts from the renew's sending",
    was: held(4, 0),
    busy: { op: "renew", sent: at(1000), epoch: 4 },
    answer: { op: "renew", result: { ok: true, lease: lease(ME, 4, 3000, 1000) } },
    now: at(1030),
    after: held(4, 1000),
  },
  {
    name: "renewed after the lease lapsed locally: held again, acquired",
    was: { kind: "unknown", readAt: 2500 },
    busy: { op: "renew", sent: at(2400), epoch: 4 },
    answer: { op: "renew", result: { ok: true, lease: lease(ME, 4, 3000, 2400) } },
    now: at(2550),
    after: held(4, 2400),
    events: [{ side: "s", kind: "acquired", epoch: 4 }],
  },
  {
    name: "renew refused: lost (taken), the new holder seen",
    was: held(4, 0),
    busy: { op: "renew", sent: at(1000), epoch: 4 },
    answer: { op: "renew", result: { ok: false, current: lease(OTHER, 5, 3000, 900) } },
    now: at(1030),
    after: seen(lease(OTHER, 5, 3000, 900), 2030),
    events: [{ side: "s", kind: "lost", epoch: 4, reason: "taken" }],
  },
  {
    name: "renew refused after a local lapse: no second lost event",
    was: { kind: "unknown", readAt: 2500 },
    busy: { op: "renew", sent: at(2400), epoch: 4 },
    answer: { op: "renew", result: { ok: false, current: lease(OTHER, 5, 3000, 2450) } },
    now: at(2550),
    after: seen(lease(OTHER, 5, 3000, 2450), 3550),
  },
  {
    name: "renew failed: still held until validity ends, retried after the retry wait",
    was: held(4, 0),
    busy: { op: "renew", sent: at(1000), epoch: 4 },
    answer: failed("renew"),
    now: at(2000),
    after: { ...held(4, 0), renewAt: 2250 } as SideLease,
  },
  {
    name: "released: free in the table at the same epoch, so a claim takes the next",
    was: { kind: "unknown", readAt: 0 },
    busy: { op: "release", sent: at(10), epoch: 4 },
    answer: { op: "release", result: { ok: true } },
    now: at(20),
    after: seen({ side: "s", holder: ME, epoch: 4, expiresAt: 0 }, 1020),
  },
  {
    name: "release refused: someone else's by now",
    was: { kind: "unknown", readAt: 0 },
    busy: { op: "release", sent: at(10), epoch: 4 },
    answer: { op: "release", result: { ok: false, current: lease(OTHER, 5, 3000) } },
    now: at(20),
    after: seen(lease(OTHER, 5, 3000), 1020),
  },
];

for (const c of SETTLE_CASES) {
  t.test(`settle: ${c.name}`, async (t) => {
    const r = leaseSettle({ lease: c.was, busy: c.busy }, "s", c.answer, c.now, ME, T);
    t.same(r.entry, { lease: c.after }, "state");
    t.same(r.events, c.events ?? [], "events");
  });
}

/**
 * DynamoDB's conditions over a Map, with a switch to fail every request and a gate to hold
 * requests until released.
 */
class MemoryStore implements LeaseStoreApi {
  readonly calls = new LeaseCallCounter();
  readonly items = new Map<string, Lease>();
  failing = false;
  /** While set, requests wait for it to resolve (or for their deadline). */
  gate: Promise<void> | undefined;
  sent: string[] = [];

  async #call<T>(
    op: "read" | "claim" | "renew" | "release",
    side: string,
    signal: AbortSignal,
    fn: () => T,
  ) {
    this.sent.push(`${side}:${op}`);
    if (this.gate) {
      const gate = this.gate;
      await new Promise<void>((resolve, reject) => {
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
        gate.then(resolve);
      }).catch(() => {
        this.calls.record(op, "timeout");
        throw new LeaseStoreError(op, "TimeoutError", "timeout", "deadline");
      });
    }
    if (this.failing) {
      this.calls.record(op, "network");
      throw new LeaseStoreError(op, "ECONNREFUSED", "network", "refused");
    }
    const r = fn();
    this.calls.record(op, (r as { ok?: boolean })?.ok === false ? "conditional-failed" : "ok");
    return r;
  }

  read(side: string, { signal }: CallOptions) {
    return this.#call("read", side, signal, () => this.items.get(side));
  }

  claim(
    side: string,
    holder: string,
    ttlMs: number,
    now: number,
    { signal, skewMs = 0, epochFloor = 0 }: CallOptions & ClaimOptions,
  ) {
    return this.#call("claim", side, signal, (): ClaimResult => {
      const cur = this.items.get(side);
      if (cur && cur.expiresAt >= now - skewMs && cur.holder !== holder)
        return { ok: false, current: cur };
      const epoch =
        cur && cur.holder === holder && cur.expiresAt >= now - skewMs
          ? cur.epoch
          : (cur?.epoch ?? epochFloor) + 1;
      const lease = { side, holder, epoch, expiresAt: now + ttlMs };
      this.items.set(side, lease);
      return { ok: true, lease };
    });
  }

  renew(
    side: string,
    holder: string,
    epoch: number,
    ttlMs: number,
    now: number,
    { signal }: CallOptions,
  ) {
    return this.#call("renew", side, signal, (): RenewResult => {
      const cur = this.items.get(side);
      if (!cur || cur.holder !== holder || cur.epoch !== epoch) return { ok: false, current: cur };
      const lease = { ...cur, expiresAt: now + ttlMs };
      this.items.set(side, lease);
      return { ok: true, lease };
    });
  }

  release(side: string, holder: string, epoch: number, { signal }: CallOptions) {
    return this.#call("release", side, signal, (): ReleaseResult => {
      const cur = this.items.get(side);
      if (!cur || cur.holder !== holder || cur.epoch !== epoch) return { ok: false, current: cur };
      this.items.set(side, { ...cur, expiresAt: 0 });
      return { ok: true };
    });
  }
}

class ManualClock implements Clock {
  ms = 0;
  wallDrift = 0;
  mono() {
    return this.ms;
  }
  wall() {
    return WALL0 + this.ms + this.wallDrift;
  }
}

/** Lets every settled answer run its follow-up tick. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

function keeper(store: MemoryStore, clock: ManualClock, holder = ME) {
  const events: LeaseEvent[] = [];
  const k = new LeaseKeeper({
    store,
    holder,
    ttlMs: 3000,
    clock,
    timers: false,
    onEvent: (e) => events.push(e),
  });
  return { k, events };
}

t.test("shell: read, claim, hold, renew; holds() says for how long", async (t) => {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const { k, events } = keeper(store, clock);
  k.want("s", true);
  k.tick();
  await settle();
  await settle();
  t.same(store.sent, ["s:read", "s:claim"]);
  t.same(k.holds("s"), { epoch: 1, validForMs: 2500, validUntil: 2500 });
  t.same(
    events.map((e) => e.kind),
    ["acquired"],
  );
  clock.ms = 1000;
  t.equal(k.holds("s")?.validForMs, 1500);
  k.tick();
  await settle();
  t.same(store.sent.at(-1), "s:renew");
  t.equal(k.holds("s")?.validForMs, 2500, "renewed from its sending");
  t.equal(store.items.get("s")?.expiresAt, WALL0 + 1000 + 3000);
  t.same(k.stats().calls, { read: { ok: 1 }, claim: { ok: 1 }, renew: { ok: 1 } });
  t.equal(k.stats().requests, 3);
  t.equal(k.stats().held, 1);
  t.equal(k.stats().wanted, 1);
});

t.test("shell: a store that fails loses the lease when local validity ends", async (t) => {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const { k, events } = keeper(store, clock);
  k.want("s", true);
  k.tick();
  await settle();
  await settle();
  t.ok(k.holds("s"));
  store.failing = true;
  for (let ms = 1000; ms < 2500; ms += 100) {
    clock.ms = ms;
    k.tick();
    await settle();
    t.ok(k.holds("s"), `still held at ${ms} ms`);
  }
  t.ok(store.calls.count("renew", "network") >= 5, "renewals retried");
  clock.ms = 2500;
  t.equal(k.holds("s"), undefined, "not held the moment validity ends, before any tick");
  k.tick();
  await settle(); // its read fails too
  t.same(
    events.map((e) => e.kind),
    ["acquired", "lost"],
  );
  t.match(events[1], { kind: "lost", reason: "expired", epoch: 1 });
  // The table still shows it ours: once the store answers again, it is claimed back at epoch 1.
  store.failing = false;
  clock.ms = 2800; // the read at 2500 failed: the next one after the retry wait (250 ms)
  k.tick();
  await settle();
  await settle();
  t.equal(k.holds("s")?.epoch, 1);
});

t.test("shell: a paused process finds its lease gone", async (t) => {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const { k } = keeper(store, clock);
  k.want("s", true);
  k.tick();
  await settle();
  await settle();
  t.ok(k.holds("s"));
  clock.ms = 10_000; // SIGSTOP, SIGCONT: no tick ran in between
  t.equal(k.holds("s"), undefined);
  // Meanwhile another controller took it over.
  store.items.set("s", { side: "s", holder: OTHER, epoch: 2, expiresAt: WALL0 + 12_000 });
  k.tick();
  await settle();
  t.equal(k.holds("s"), undefined);
  t.match(k.events().at(-1), { kind: "lost", reason: "expired" });
});

t.test("shell: a side whose item is gone starts above the epoch floor it was given", async (t) => {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const { k } = keeper(store, clock);
  k.want("s", true, { epochFloor: 57 });
  k.want("t", true);
  k.tick();
  await settle();
  await settle();
  t.equal(k.holds("s")?.epoch, 58);
  t.equal(k.holds("t")?.epoch, 1);
});

t.test("shell: a renew refused means lost at once", async (t) => {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const { k, events } = keeper(store, clock);
  k.want("s", true);
  k.tick();
  await settle();
  await settle();
  store.items.set("s", { side: "s", holder: OTHER, epoch: 2, expiresAt: WALL0 + 9000 });
  clock.ms = 1000;
  k.tick();
  await settle();
  t.equal(k.holds("s"), undefined);
  t.match(events.at(-1), { kind: "lost", reason: "taken", epoch: 1 });
});

t.test(
  "shell: at most one request per side in flight; sides do not wait for each other",
  async (t) => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    const { k } = keeper(store, clock);
    let open = () => {};
    store.gate = new Promise((resolve) => {
      open = resolve;
    });
    k.want("a", true);
    k.tick();
    k.tick();
    k.tick();
    t.same(store.sent, ["a:read"]);
    store.gate = undefined;
    k.want("b", true);
    k.tick();
    await settle();
    await settle();
    t.ok(k.holds("b"), "b held while a's read still waits");
    t.equal(k.holds("a"), undefined);
    t.same(
      store.sent.filter((s) => s.startsWith("a:")),
      ["a:read"],
    );
    open();
    await settle();
    await settle();
    t.ok(k.holds("a"));
  },
);

t.test(
  "shell: another's lease is read once per renew interval, claimed after expiry + skew",
  async (t) => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    const { k } = keeper(store, clock);
    store.items.set("s", { side: "s", holder: OTHER, epoch: 3, expiresAt: WALL0 + 2500 });
    k.want("s", true);
    for (let ms = 0; ms <= 2700; ms += 50) {
      clock.ms = ms;
      k.tick();
      await settle();
    }
    t.same(store.sent, ["s:read", "s:read", "s:read"], "at 0, 1000 and 2000 ms");
    t.equal(k.holds("s"), undefined, "not yet: 2500 + 300 skew");
    clock.ms = 2801;
    k.tick();
    await settle();
    t.equal(k.holds("s")?.epoch, 4, "the next epoch");
    t.same(store.sent.at(-1), "s:claim");
  },
);

t.test("shell: release() and stop() release, and stop() is bounded", async (t) => {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const { k, events } = keeper(store, clock);
  for (const s of ["a", "b", "c"]) k.want(s, true);
  k.tick();
  await settle();
  await settle();
  t.equal(k.held().size, 3);
  await k.release("a");
  t.equal(k.holds("a"), undefined);
  t.same(store.items.get("a"), { side: "a", holder: ME, epoch: 1, expiresAt: 0 });
  t.same(k.wanted().sort(), ["b", "c"]);
  await k.stop();
  t.equal(k.held().size, 0);
  for (const s of ["b", "c"]) t.equal(store.items.get(s)?.expiresAt, 0, `${s} released`);
  t.same(
    events
      .filter((e) => e.kind === "released")
      .map((e) => e.side)
      .sort(),
    ["a", "b", "c"],
  );
  k.want("a", true);
  k.tick();
  t.same(k.wanted(), [], "a stopped keeper wants nothing");

  // A store that never answers: stop() still returns, after its bound.
  const stuck = new MemoryStore();
  const { k: k2 } = keeper(stuck, new ManualClock());
  k2.want("s", true);
  k2.tick();
  await settle();
  await settle();
  t.ok(k2.holds("s"));
  stuck.gate = new Promise(() => {});
  const started = performance.now();
  await k2.stop(300);
  const took = performance.now() - started;
  t.ok(took >= 290 && took < 2000, `stop took ${Math.round(took)} ms`);
  t.equal(k2.holds("s"), undefined);
});

t.test("shell: abandon() stops without releasing", async (t) => {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const { k } = keeper(store, clock);
  k.want("s", true);
  k.tick();
  await settle();
  await settle();
  k.abandon();
  t.equal(k.holds("s"), undefined);
  t.equal(store.items.get("s")?.expiresAt, WALL0 + 3000, "still in the table");
  const before = store.sent.length;
  clock.ms = 5000;
  k.tick();
  await settle();
  t.equal(store.sent.length, before, "no request after abandon");
});

t.test("shell: the keeper's own timers renew without tick()", async (t) => {
  const store = new MemoryStore();
  const k = new LeaseKeeper({ store, holder: ME, ttlMs: 2000 });
  t.teardown(() => k.abandon());
  k.want("s", true);
  k.tick();
  await new Promise((resolve) => setTimeout(resolve, 1600));
  t.ok(k.holds("s"), "held after more than local validity (1500 ms)");
  t.ok(store.calls.count("renew", "ok") >= 1, "renewed on its own");
  t.ok(store.calls.count("renew", "ok") <= 3, "about every 667 ms, not every tick");
});
