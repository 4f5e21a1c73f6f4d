import { type AddressInfo, createServer } from "node:net";
import {
  CreateTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
} from "@aws-sdk/client-dynamodb";
import t from "tap";
import { leaseClient } from "../../control-plane/src/leases/client.ts";
import { type LeaseEvent, LeaseKeeper } from "../../control-plane/src/leases/keeper.ts";
import { LeaseStore, type LeaseStoreApi } from "../../control-plane/src/leases/store.ts";
import {
  checkLeaseTable,
  createLeaseTable,
  LeaseTableError,
} from "../../control-plane/src/leases/table.ts";
import { startMoto } from "../helpers/moto.ts";
import { oneAtATime } from "../helpers/one-at-a-time.ts";

/**
 * Leases against moto's DynamoDB (the same server and endpoint as its EC2): the table, the
 * store's conditions under concurrency, and keepers that take sides over from one another.
 */

const REGION = "us-east-1";
const moto = await startMoto(t);

const atomic = await oneAtATime(t, moto.endpoint);
const clients: DynamoDBClient[] = [];
const client = (endpoint = moto.endpoint) => {
  const c = leaseClient({ endpoint }, REGION);
  clients.push(c);
  return c;
};
t.teardown(() => {
  for (const c of clients) c.destroy();
});
const ddb = client();
const TABLE = "swanpair-leases";
await createLeaseTable(ddb, TABLE);

const opts = () => ({ signal: AbortSignal.timeout(5000) });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

t.test("table: created once, idempotent, TTL on expires, checked", async (t) => {
  const name = "leases-create";
  t.same(await createLeaseTable(ddb, name), { created: true, ttlEnabled: true });
  t.same(await createLeaseTable(ddb, name), { created: false, ttlEnabled: false }, "again: as is");
  const ttl = await ddb.send(new DescribeTimeToLiveCommand({ TableName: name }));
  t.match(ttl.TimeToLiveDescription, { TimeToLiveStatus: "ENABLED", AttributeName: "expires" });
  t.same(await checkLeaseTable(ddb, name), { errors: [], warnings: [] });

  const missing = await checkLeaseTable(ddb, "no-such-table");
  t.match(missing.errors, [{ path: "leases.table", rule: "lease-table-missing" }]);
});

t.test("table: another key schema is an error, never changed", async (t) => {
  const name = "leases-wrong-key";
  await ddb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [
        { AttributeName: "id", AttributeType: "S" },
        { AttributeName: "at", AttributeType: "N" },
      ],
      KeySchema: [
        { AttributeName: "id", KeyType: "HASH" },
        { AttributeName: "at", KeyType: "RANGE" },
      ],
    }),
  );
  const error = await createLeaseTable(ddb, name).catch((e: unknown) => e);
  t.ok(error instanceof LeaseTableError);
  t.match(
    (error as Error).message,
    /with the key id \(S, HASH\), at \(N, RANGE\); a lease table has side \(S, HASH\) alone/,
  );
  const check = await checkLeaseTable(ddb, name);
  t.match(check.errors, [{ path: "leases.table", rule: "lease-table-key" }]);
  t.match(check.warnings, [{ rule: "lease-table-ttl" }], "and no TTL");
});

t.test("table: right key, no TTL: a warning, fixed by createLeaseTable", async (t) => {
  const name = "leases-no-ttl";
  await ddb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [{ AttributeName: "side", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "side", KeyType: "HASH" }],
    }),
  );
  const before = await checkLeaseTable(ddb, name);
  t.same(before.errors, []);
  t.match(before.warnings, [
    { path: "leases.table", rule: "lease-table-ttl", message: /update-time-to-live/ },
  ]);
  t.same(await createLeaseTable(ddb, name), { created: false, ttlEnabled: true });
  t.same(await checkLeaseTable(ddb, name), { errors: [], warnings: [] });
});

t.test("store: of 20 concurrent claims exactly one wins, every round", async (t) => {
  const store = new LeaseStore(ddb, TABLE);
  for (let round = 0; round < 10; round++) {
    const side = `race/${round}`;
    const now = Date.now();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        // Each claimer its own client, as separate controllers would have.
        new LeaseStore(client(atomic), TABLE).claim(side, `h${i}`, 15_000, now, opts()),
      ),
    );
    const winners = results.flatMap((r, i) => (r.ok ? [{ i, lease: r.lease }] : []));
    t.equal(winners.length, 1, `${side}: one winner`);
    const winner = winners[0];
    t.equal(winner?.lease.epoch, 1);
    for (const r of results)
      if (!r.ok) t.same(r.current, winner?.lease, "each loser is told who won");
    t.same(await store.read(side, opts()), winner?.lease, "the table agrees");
  }
});

t.test("store: expiry, the next epoch, stale holders refused, release, re-claim", async (t) => {
  const store = new LeaseStore(ddb, TABLE);
  const side = "ab/pa";
  const t0 = Date.now();
  t.equal(await store.read(side, opts()), undefined);
  const a = await store.claim(side, "A", 1000, t0, opts());
  t.match(a, { ok: true, lease: { holder: "A", epoch: 1, expiresAt: t0 + 1000 } });

  t.match(await store.claim(side, "B", 1000, t0 + 1000, opts()), {
    ok: false,
    current: { holder: "A", epoch: 1 },
  });
  t.match(
    await store.claim(side, "B", 1000, t0 + 1100, { ...opts(), skewMs: 200 }),
    { ok: false },
    "expired, but not beyond the skew margin",
  );
  t.match(
    await store.claim(side, "A", 1000, t0 + 500, opts()),
    { ok: true, lease: { holder: "A", epoch: 1, expiresAt: t0 + 1500 } },
    "already ours: the same epoch, extended",
  );
  const b = await store.claim(side, "B", 1000, t0 + 1501, opts());
  t.match(
    b,
    { ok: true, lease: { holder: "B", epoch: 2, expiresAt: t0 + 2501 } },
    "expired: taken",
  );

  t.match(await store.renew(side, "A", 1, 1000, t0 + 1600, opts()), {
    ok: false,
    current: { holder: "B", epoch: 2 },
  });
  t.match(await store.release(side, "A", 1, opts()), { ok: false, current: { holder: "B" } });
  t.match(await store.renew(side, "B", 1, 1000, t0 + 1600, opts()), { ok: false }, "old epoch");
  t.match(await store.read(side, opts()), { holder: "B", epoch: 2, expiresAt: t0 + 2501 });

  t.match(await store.renew(side, "B", 2, 1000, t0 + 1600, opts()), {
    ok: true,
    lease: { holder: "B", epoch: 2, expiresAt: t0 + 2600 },
  });
  t.same(await store.release(side, "B", 2, opts()), { ok: true });
  t.match(await store.read(side, opts()), { holder: "B", epoch: 2, expiresAt: 0 });
  t.match(
    await store.claim(side, "A", 1000, t0 + 1700, opts()),
    { ok: true, lease: { holder: "A", epoch: 3 } },
    "released: claimable at once, with the next epoch",
  );
  t.match(await store.release(side, "B", 2, opts()), { ok: false }, "a second release");

  // The epoch floor counts only for a missing item (deleted by TTL, or never claimed).
  t.match(
    await store.claim(side, "C", 1000, t0 + 5000, { ...opts(), epochFloor: 57 }),
    { ok: true, lease: { holder: "C", epoch: 4 } },
    "an existing item keeps its own count",
  );
  t.match(
    await store.claim("ab/gone", "C", 1000, t0, { ...opts(), epochFloor: 57 }),
    { ok: true, lease: { holder: "C", epoch: 58 } },
    "a missing item starts above the floor",
  );
  t.same(store.calls.count(undefined, "error"), 0);
});

const SIDES = ["ab/pa", "ab/pb", "cd/pc", "cd/pd"].map((s) => `keepers/${s}`);

function keeperOn(
  store: LeaseStoreApi,
  holder: string,
  events: Array<LeaseEvent & { at: number }>,
) {
  const k = new LeaseKeeper({ store, holder, ttlMs: 2000, onEvent: (e) => events.push(e) });
  t.teardown(() => k.abandon());
  for (const s of SIDES) k.want(s, true);
  k.tick();
  return k;
}

t.test(
  "keepers: one holder per side at every moment; a dead one's sides taken over in time",
  async (t) => {
    const events: Array<LeaseEvent & { at: number; who?: string }> = [];
    const a = keeperOn(new LeaseStore(client(atomic), TABLE), "A", events);
    const b = keeperOn(new LeaseStore(client(atomic), TABLE), "B", events);
    const both: string[] = [];
    let samples = 0;
    const sample = () => {
      samples++;
      for (const s of SIDES) if (a.holds(s) && b.holds(s)) both.push(s);
    };
    const started = performance.now();
    while (performance.now() - started < 3000) {
      sample();
      await sleep(10);
    }
    const heldBy = (k: LeaseKeeper) => SIDES.filter((s) => k.holds(s));
    t.equal(heldBy(a).length + heldBy(b).length, SIDES.length, "every side held by one of them");
    const [dead, alive] = heldBy(a).length > 0 ? [a, b] : [b, a];
    const deadSides = heldBy(dead);
    t.ok(deadSides.length > 0);
    const epochs = new Map(deadSides.map((s) => [s, dead.holds(s)?.epoch ?? 0]));

    // Death: its timers stop, nothing is released; its leases run out in the table.
    const diedAt = performance.now();
    dead.abandon();
    const takenAfter = new Map<string, number>();
    while (performance.now() - diedAt < 4000 && takenAfter.size < deadSides.length) {
      sample();
      for (const s of deadSides)
        if (!takenAfter.has(s) && alive.holds(s)) takenAfter.set(s, performance.now() - diedAt);
      await sleep(10);
    }
    t.same(both, [], `never two holders, over ${samples} samples`);
    const bound = alive.timing.ttlMs + alive.timing.renewEveryMs;
    for (const s of deadSides) {
      const ms = takenAfter.get(s);
      t.ok(
        ms !== undefined && ms <= bound,
        `${s} taken over after ${Math.round(ms ?? -1)} ms (≤ ${bound})`,
      );
      t.equal(alive.holds(s)?.epoch, (epochs.get(s) ?? 0) + 1, `${s}: the next epoch`);
    }
    t.equal(heldBy(alive).length, SIDES.length, "the survivor holds every side");

    // Cost: a holder renews every ttl/3, a watcher reads every ttl/3; about 1.5 calls per second per side.
    const stats = alive.stats();
    const perSidePerMinute = (stats.requests / SIDES.length / stats.elapsedMs) * 60_000;
    t.ok(perSidePerMinute < 150, `${perSidePerMinute.toFixed(0)} calls per minute per side`);
    t.notOk(stats.calls.read?.timeout ?? stats.calls.renew?.timeout, "no request timed out");

    await alive.stop();
    for (const s of SIDES) t.equal(alive.holds(s), undefined);
    const table = new LeaseStore(ddb, TABLE);
    for (const s of SIDES) t.match(await table.read(s, opts()), { expiresAt: 0 }, `${s} released`);
  },
);

t.test("keepers: a paused process finds its leases over when it resumes", async (t) => {
  const events: Array<LeaseEvent & { at: number }> = [];
  const store = new LeaseStore(client(atomic), TABLE);
  const sides = SIDES.map((s) => s.replace("keepers/", "paused/"));
  const k = new LeaseKeeper({ store, holder: "P", ttlMs: 2000, onEvent: (e) => events.push(e) });
  t.teardown(() => k.abandon());
  for (const s of sides) k.want(s, true);
  k.tick();
  const deadline = performance.now() + 3000;
  while (sides.some((s) => !k.holds(s)) && performance.now() < deadline) await sleep(20);
  const before = new Map(sides.map((s) => [s, k.holds(s)?.epoch]));
  t.ok(
    sides.every((s) => before.get(s) !== undefined),
    "holds every side",
  );
  // As SIGSTOP would: no timer, no answer, no code runs for longer than the lease.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2500);
  for (const s of sides) t.equal(k.holds(s), undefined, `${s}: not held on resuming`);
  // The table agrees that the leases ran out; the keeper claims them again, as new terms.
  const table = new LeaseStore(ddb, TABLE);
  for (const s of sides) t.ok(((await table.read(s, opts()))?.expiresAt ?? 0) < Date.now());
  const again = performance.now() + 3000;
  while (sides.some((s) => !k.holds(s)) && performance.now() < again) await sleep(20);
  for (const s of sides) t.equal(k.holds(s)?.epoch, (before.get(s) ?? 0) + 1, `${s}: next epoch`);
  t.same(
    events.filter((e) => e.kind === "lost").map((e) => e.kind === "lost" && e.reason),
    sides.map(() => "expired"),
  );
});

t.test("keepers: store unreachable, the leases end with local validity", async (t) => {
  const events: Array<LeaseEvent & { at: number }> = [];
  const good = new LeaseStore(client(atomic), TABLE);
  const bad = new LeaseStore(client(`http://127.0.0.1:${await closedPort()}`), TABLE);
  // The keeper's store: moto first, then a port nothing listens on.
  let current: LeaseStore = good;
  const switching: LeaseStoreApi = {
    get calls() {
      return current.calls;
    },
    read: (...args) => current.read(...args),
    claim: (...args) => current.claim(...args),
    renew: (...args) => current.renew(...args),
    release: (...args) => current.release(...args),
  };
  const sides = SIDES.map((s) => s.replace("keepers/", "unreachable/"));
  const k = new LeaseKeeper({
    store: switching,
    holder: "C",
    ttlMs: 2000,
    onEvent: (e) => events.push(e),
  });
  t.teardown(() => k.abandon());
  for (const s of sides) k.want(s, true);
  k.tick();
  const deadline = performance.now() + 3000;
  while (sides.some((s) => !k.holds(s)) && performance.now() < deadline) await sleep(20);
  t.ok(
    sides.every((s) => k.holds(s)),
    "holds every side",
  );

  current = bad;
  const cutAt = performance.now();
  const validUntil = new Map(sides.map((s) => [s, k.holds(s)?.validUntil ?? 0]));
  const lostAt = new Map<string, number>();
  while (performance.now() - cutAt < 3000 && lostAt.size < sides.length) {
    for (const s of sides) if (!lostAt.has(s) && !k.holds(s)) lostAt.set(s, performance.now());
    await sleep(5);
  }
  for (const s of sides) {
    const lost = lostAt.get(s);
    t.ok(lost !== undefined, `${s} lost`);
    const late = (lost ?? Infinity) - (validUntil.get(s) ?? 0);
    // Not one renewal got through, so it ends when its last validity said (the wall-clock
    // bound counts whole milliseconds, hence a millisecond early at most).
    t.ok(late >= -1 && late < 50, `${s} lost ${late.toFixed(0)} ms after its validity ended`);
    t.ok((lost ?? 0) - cutAt <= k.timing.ttlMs - k.timing.safetyMs, "within one validity");
  }
  await sleep(50);
  t.same(
    events
      .filter((e) => e.kind === "lost")
      .map((e) => [e.side, e.kind === "lost" && e.reason])
      .sort(),
    sides.map((s) => [s, "expired"]).sort(),
    "one lost event per side, reason expired",
  );
  t.ok(bad.calls.count("renew", "network") >= sides.length, "renewals refused by the network");
  t.equal(bad.calls.count("renew", "ok"), 0);
  // Stopping with the store down is still bounded.
  const stopping = performance.now();
  await k.stop();
  t.ok(performance.now() - stopping < 2 * k.timing.callTimeoutMs + 500, "stop() bounded");
});
