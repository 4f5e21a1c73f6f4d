import { DeleteRouteCommand } from "@aws-sdk/client-ec2";
import t, { type Test } from "tap";
import { Ec2 } from "../../control-plane/src/ec2/client.ts";
import type { FailoverPolicy } from "../../control-plane/src/fleet/types.ts";
import { leaseClient } from "../../control-plane/src/leases/client.ts";
import { LeaseStore } from "../../control-plane/src/leases/store.ts";
import { createLeaseTable } from "../../control-plane/src/leases/table.ts";
import { waitFor } from "../helpers/agent-lab.ts";
import {
  all,
  allOn,
  deadSocket,
  EAST,
  edit,
  held,
  leaseKey,
  logged,
  mutating,
  ownProxy,
  seedWorld,
  sideState,
  sideTables,
  sleep,
  split,
  ticks,
  WEST,
} from "../helpers/controllers.ts";
import { startMoto } from "../helpers/moto.ts";
import { oneAtATime } from "../helpers/one-at-a-time.ts";
import { ScriptedAgents } from "../helpers/scripted-agents.ts";
import { startController, swanpair } from "../helpers/swanpair-bin.ts";

/**
 * Central controllers sharing a lease table (DynamoDB in moto, decision 0013), each a real
 * `swanpair controller run` process with its own fleet file, its own view of the agents and its
 * own fault proxy in front of moto's EC2, so that what each one wrote can be told apart.
 */

const moto = await startMoto(t);
const ec2 = new Ec2({ region: "eu-west-1", endpoint: moto.endpoint });
t.teardown(() => ec2.destroy());
/** DynamoDB one request at a time, so that moto's conditional writes are atomic as DynamoDB's. */
const dynamo = await oneAtATime(t, moto.endpoint);

const TABLE = "swp-leases";
const TTL_MS = 3000;
const POLICY: FailoverPolicy = {
  intervalMs: 250,
  fall: 2,
  rise: 2,
  holdDownMs: 2000,
  preempt: false,
};

/** A fresh moto (EC2 and DynamoDB), the world seeded, and (unless told) the lease table. */
async function world(t: Test, { table = true } = {}) {
  await moto.reset();
  const w = await seedWorld(t, ec2.sdk, { tag: "lease-test", policy: POLICY });
  if (table) {
    const client = leaseClient({ endpoint: moto.endpoint }, w.seeded.region);
    await createLeaseTable(client, TABLE, { pollMs: 100 });
    client.destroy();
  }
  return { ...w, leased: edit.leases(TABLE, TTL_MS, dynamo) };
}

t.test("leases init creates the table once; validate --ec2 checks it", async (t) => {
  const { file, leased } = await world(t, { table: false });
  const path = await file(all(edit.via(moto), leased));

  const before = await swanpair("validate", "--config", path, "--ec2", "--json");
  t.equal(before.code, 2, "the missing table makes the file invalid against the cloud");
  const beforeReport = JSON.parse(before.stdout);
  t.equal(beforeReport.ok, false);
  t.match(beforeReport.errors, [{ path: "leases.table", rule: "lease-table-missing" }]);
  t.equal(beforeReport.errors.length, 1, "the EC2 part of the file is fine");

  const init = await swanpair("leases", "init", "--config", path, "--json");
  t.equal(init.code, 0, init.stderr);
  t.same(JSON.parse(init.stdout), { table: TABLE, created: true, ttlEnabled: true });
  const again = await swanpair("leases", "init", "--config", path);
  t.equal(again.code, 0, again.stderr);
  t.match(again.stdout, new RegExp(`lease table ${TABLE} exists`), "a second run keeps it");

  const after = await swanpair("validate", "--config", path, "--ec2", "--json");
  t.equal(after.code, 0, after.stdout);
  t.match(JSON.parse(after.stdout), { ok: true, errors: [] });
  t.notOk(
    JSON.parse(after.stdout).warnings.some((w: { path: string }) => w.path === "leases.table"),
    "TTL enabled: no warning",
  );
});

t.test(
  "two central controllers, one partitioned from east-a: one lease holder per side, one writer, no split; the survivor takes over within ttl + one interval",
  async (t) => {
    const { seeded, agents, file, leased } = await world(t);
    const p1 = await ownProxy(t, moto.endpoint);
    const p2 = await ownProxy(t, moto.endpoint);
    // c1 cannot reach east-a's agent; c2 sees everything.
    const f1 = await file(
      all(edit.via(p1), leased, edit.agentAt("east-a", deadSocket("east-a"))),
      "c1.yaml",
    );
    const f2 = await file(all(edit.via(p2), leased), "c2.yaml");
    const keys = { east: leaseKey(seeded, EAST), west: leaseKey(seeded, WEST) };
    const tables = { east: sideTables(seeded, EAST), west: sideTables(seeded, WEST) };

    const c1 = await startController(t, ["--config", f1]);
    await waitFor("c1 holds both sides", async () =>
      Object.keys(await held(c1)).length === 2 ? true : undefined,
    );
    const c2 = await startController(t, ["--config", f2]);
    await ticks(c2, 3);

    const violations: string[] = [];
    let samples = 0;
    /** One look at both controllers' leases and both sides' routes. */
    const sample = async () => {
      const [h1, h2, east, west] = await Promise.all([
        held(c1),
        held(c2),
        sideState(ec2.sdk, seeded, EAST),
        sideState(ec2.sdk, seeded, WEST),
      ]);
      samples++;
      for (const key of Object.values(keys)) {
        const holders = [h1[key] && "c1", h2[key] && "c2"].filter(Boolean);
        if (holders.length !== 1) violations.push(`${key} held by [${holders}]`);
      }
      if (split(east)) violations.push(`east split: ${east.owners}`);
      if (split(west)) violations.push(`west split: ${west.owners}`);
      return { h1, h2, east, west };
    };
    const watch = async (ms: number) => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        await sample();
        await sleep(100);
      }
    };

    await watch(2000);
    const first = await sample();
    t.ok(first.h1[keys.east] && first.h1[keys.west], "c1 started first and keeps both leases");
    t.equal(first.h1[keys.east]?.epoch, 1);
    t.same(first.east.fences, ["-", "-", "-"], "nothing written while nothing drifts");

    // A managed route of each side disappears. c1 holds both leases. The west side had one
    // route, so it is unowned now: c1 (which sees west-a healthy) gives it to west-a. On the
    // east side c1's view (east-a's agent unreachable, one signal) makes east-a unready, so
    // it neither heals nor fails over. c2 writes nothing.
    const eastRoute = seeded.managedRoutes.find((r) => r.pair === EAST.pair);
    const westRoute = seeded.managedRoutes.find((r) => r.pair === WEST.pair);
    for (const r of [eastRoute, westRoute])
      await ec2.sdk.send(
        new DeleteRouteCommand({
          RouteTableId: r?.routeTable,
          DestinationCidrBlock: r?.destination,
        }),
      );
    await waitFor("c1 heals the west side", async () =>
      allOn(await sideState(ec2.sdk, seeded, WEST), "west-a") ? true : undefined,
    );
    await watch(2000);
    t.same(
      (await sideState(ec2.sdk, seeded, WEST)).fences,
      ["west-a@1 term=1"],
      "west healed under c1's lease (term 1)",
    );
    t.ok(mutating(p1, tables.west).length >= 2, "c1 wrote the west side (tag, route)");
    t.same(mutating(p2, tables.west), [], "c2 wrote nothing to the west side");
    const eastNow = await sideState(ec2.sdk, seeded, EAST);
    t.equal(eastNow.owners.filter((o) => o === "missing").length, 1, "east route still missing");
    t.same(eastNow.fences, ["-", "-", "-"]);
    t.same(mutating(p1, tables.east), [], "c1, partitioned from east-a, wrote nothing east");
    t.same(mutating(p2, tables.east), [], "c2, without the lease, wrote nothing east");
    t.match(
      (await c1.status()).sides.find((s: { pair: string }) => s.pair === EAST.pair),
      {
        active: "east-a",
        members: [{ name: "east-a", status: "unready", signals: ["agent-unreachable"] }],
      },
    );
    t.same(logged(c1, "failover", EAST), [], "no failover from c1's partial view");
    t.match(logged(c1, "failover", WEST), [{ to: "west-a", reason: "no-active", epoch: 1 }]);
    t.same(logged(c2, "failover"), [], "c2 decided nothing");
    t.same(violations, [], `one lease holder per side and no split, over ${samples} samples`);

    // The holder dies. c2 takes both sides once the leases ran out.
    const store = new LeaseStore(leaseClient({ endpoint: moto.endpoint }, seeded.region), TABLE);
    t.teardown(() => store.client.destroy());
    const killedAt = performance.now();
    const killedWall = Date.now();
    await c1.kill();
    const expiresIn = Object.fromEntries(
      await Promise.all(
        Object.values(keys).map(async (key) => {
          const lease = await store.read(key, { signal: AbortSignal.timeout(2000) });
          return [key, (lease?.expiresAt ?? Number.NaN) - killedWall] as const;
        }),
      ),
    );
    const takenAfter: Record<string, number> = {};
    await waitFor(
      "c2 holds both sides",
      async () => {
        const h = await held(c2);
        for (const key of Object.values(keys))
          if (h[key] && takenAfter[key] === undefined)
            takenAfter[key] = performance.now() - killedAt;
        return Object.keys(takenAfter).length === 2 ? true : undefined;
      },
      10_000,
      10,
    );
    // The bound; the skew margin is capped at half an interval to keep within it.
    const bound = TTL_MS + POLICY.intervalMs;
    for (const [key, ms] of Object.entries(takenAfter)) {
      t.comment(
        `takeover of ${key}: ${Math.round(ms)} ms after SIGKILL; its lease ran out ${expiresIn[key]} ms after SIGKILL (ttl ${TTL_MS} ms)`,
      );
      t.ok(ms <= bound, `${key} taken over in ${Math.round(ms)} ms (≤ ${bound})`);
    }
    const h2 = await held(c2);
    t.equal(h2[keys.east]?.epoch, 2, "east: the next lease epoch");
    t.equal(h2[keys.west]?.epoch, 2, "west: the next lease epoch");
    // c2 sees east-a healthy: the missing east route is healed now, under c2's lease.
    await waitFor("c2 heals the east side", async () =>
      allOn(await sideState(ec2.sdk, seeded, EAST), "east-a") ? true : undefined,
    );
    t.same((await sideState(ec2.sdk, seeded, EAST)).fences, [
      "east-a@1 term=2",
      "east-a@1 term=2",
      "east-a@1 term=2",
    ]);
    t.ok(mutating(p2, tables.east).length >= 2, "c2 wrote the east side");

    // east-a really fails: its tunnels go down and east-b's probe through it fails.
    agents.setTunnels("east-a", { "west-a": "down", "west-b": "down" });
    agents.setPaths("east-b", { "east-west": "down" });
    await waitFor("c2 fails over", async () => {
      const s = await sideState(ec2.sdk, seeded, EAST);
      return allOn(s, "east-b") && s.fences.every((f) => f === "east-b@2 term=2")
        ? true
        : undefined;
    });
    t.match(logged(c2, "failover", EAST), [
      { from: "east-a", to: "east-b", reason: "active-dead", epoch: 2 },
    ]);
    t.equal(logged(c2, "failover").length, 1, "c2's only failover");
    t.equal(c2.child.exitCode, null, "c2 still runs");
  },
);

t.test(
  "a stale writer paused mid-write past its lease writes nothing after the new holder's decision",
  async (t) => {
    const { seeded, base, file, leased } = await world(t);
    const pa = await ownProxy(t, moto.endpoint);
    const pb = await ownProxy(t, moto.endpoint);
    // A has agents of its own, so that east-a can die in A's view alone.
    const viewA = await ScriptedAgents.start(t, base);
    const wireA = viewA.wire(base);
    const fa = await file(
      all(
        edit.via(pa),
        leased,
        ...wireA.appliances.map((a) => edit.agentAt(a.name, viewA.socket(a.name))),
      ),
      "a.yaml",
    );
    // B sees every member healthy and prefers east-a: once it holds the lease it moves the
    // side back there (preemption), a decision unlike A's.
    const fb = await file(all(edit.via(pb), leased, edit.policy({ preempt: true })), "b.yaml");
    const east = sideTables(seeded, EAST);
    const key = leaseKey(seeded, EAST);

    const a = await startController(t, ["--config", fa]);
    await waitFor("A holds the east side", async () => ((await held(a))[key] ? true : undefined));
    const b = await startController(t, ["--config", fb]);
    await ticks(b, 3);

    // Every ReplaceRoute of A reaches EC2 at once and its answer is held for 4 s: A's write of
    // 12 routes (8 at a time) is under way when A is paused, with nothing left unsent.
    pa.rule(({ action }) =>
      action === "ReplaceRoute" ? { kind: "slow-answer", ms: 4000 } : undefined,
    );
    await viewA.down("east-a");
    viewA.setTunnels("west-a", { "east-a": "down" });
    viewA.setTunnels("west-b", { "east-a": "down" });
    await waitFor("A's failover write under way", () =>
      pa.count("ReplaceRoute") > 0 ? true : undefined,
    );
    // Let the calls A has started go out, then pause it.
    let sent = -1;
    while (sent !== pa.count("ReplaceRoute")) {
      sent = pa.count("ReplaceRoute");
      await sleep(300);
    }
    a.child.kill("SIGSTOP");
    const pausedAt = Date.now();
    // Resumed before the teardown's SIGTERM, should an assertion below throw.
    t.teardown(() => {
      if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill("SIGCONT");
    });
    const partial = await sideState(ec2.sdk, seeded, EAST);
    const moved = partial.owners.filter((o) => o === "east-b").length;
    t.ok(moved > 0 && moved < 12, `A paused mid-write: ${moved} of 12 routes on east-b`);
    t.same(partial.fences, ["east-b@1 term=1", "east-b@1 term=1", "east-b@1 term=1"]);

    const bHeld = await waitFor(
      "B takes the lease",
      async () => (await held(b))[key],
      TTL_MS + 5000,
      20,
    );
    t.comment(`B took the lease ${Date.now() - pausedAt} ms after A was paused`);
    t.equal(bHeld.epoch, 2);
    await waitFor("B's decision lands", async () => {
      const s = await sideState(ec2.sdk, seeded, EAST);
      return allOn(s, "east-a") && s.fences.every((f) => f === "east-a@2 term=2")
        ? true
        : undefined;
    });
    const bFirst = Math.min(...mutating(pb, east).map((r) => r.at));

    a.child.kill("SIGCONT");
    await ticks(a, 8);
    await sleep(1000);
    const late = mutating(pa, east).filter((r) => r.at >= bFirst);
    t.same(
      late.map((r) => `${r.action} ${r.params.DestinationCidrBlock ?? ""}`),
      [],
      "A sent nothing after B's first write",
    );
    t.same(
      mutating(pa, east).filter((r) => r.at > pausedAt),
      [],
      "nor anything after it was paused",
    );
    const final = await sideState(ec2.sdk, seeded, EAST);
    t.ok(allOn(final, "east-a"), "the routes are B's");
    t.same(
      final.fences,
      ["east-a@2 term=2", "east-a@2 term=2", "east-a@2 term=2"],
      "so is the fence",
    );
    t.ok(
      a.log.some((l) => l.msg === "lease lost" && l.side === key),
      "A logged its lease lost",
    );
    t.match(logged(b, "failover", EAST), [{ from: "east-b", to: "east-a", reason: "preempt" }]);
    t.notOk((await held(a))[key], "A does not hold the lease");
    // Stop A first: once B releases its lease at teardown, A (which still thinks east-a dead)
    // could take it.
    await a.kill();
  },
);
