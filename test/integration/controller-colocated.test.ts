import t, { type Test } from "tap";
import { Ec2 } from "../../control-plane/src/ec2/client.ts";
import type { FailoverPolicy } from "../../control-plane/src/fleet/types.ts";
import { leaseClient } from "../../control-plane/src/leases/client.ts";
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
  type SideState,
  seedWorld,
  sideState,
  sideTables,
  sleep,
  ticks,
} from "../helpers/controllers.ts";
import type { Tree } from "../helpers/fleet-file.ts";
import { startMoto } from "../helpers/moto.ts";
import { oneAtATime } from "../helpers/one-at-a-time.ts";
import { ScriptedAgents } from "../helpers/scripted-agents.ts";
import { startController } from "../helpers/swanpair-bin.ts";

/**
 * Co-located controllers (`--self`, one per member of the east pair), each a real process with
 * its own fleet file, its own view of the agents and its own fault proxy in front of moto:
 * the link between the two members cut while both are healthy moves nothing, with and without
 * a lease table; a member that really dies loses its routes to its partner once; and a partner
 * that believes the owner dead writes nothing while the owner's controller renews the lease.
 *
 * Each subtest seeds a world of its own (its own fleet tag, VPCs and lease items) in the one
 * moto, so the two 60 s subtests run side by side.
 */

// Two 60 s observations side by side, plus the shorter cases.
t.setTimeout(240_000);

const moto = await startMoto(t);
const ec2 = new Ec2({ region: "eu-west-1", endpoint: moto.endpoint });
t.teardown(() => ec2.destroy());
const dynamo = await oneAtATime(t, moto.endpoint);
const TABLE = "swp-colocated-leases";
const TTL_MS = 3000;
{
  const client = leaseClient({ endpoint: moto.endpoint }, "eu-west-1");
  await createLeaseTable(client, TABLE, { pollMs: 100 });
  client.destroy();
}

const POLICY: FailoverPolicy = {
  intervalMs: 200,
  fall: 2,
  rise: 2,
  holdDownMs: 5000,
  preempt: false,
};
const CUT_WINDOW_MS = 60_000;

let worlds = 0;
/** A world of its own, and a fleet file writer per member's controller (its own proxy). */
async function world(t: Test, { leased }: { leased: boolean }) {
  const w = await seedWorld(t, ec2.sdk, { tag: `colo-${++worlds}`, policy: POLICY });
  const proxies = { a: await ownProxy(t, moto.endpoint), b: await ownProxy(t, moto.endpoint) };
  const leases = leased ? edit.leases(TABLE, TTL_MS, dynamo) : () => {};
  /** east-a's (`a`) or east-b's (`b`) controller's fleet file, after `changes`. */
  const fileFor = (who: "a" | "b", ...changes: Array<(tree: Tree) => void>) =>
    w.file(all(edit.via(proxies[who]), leases, ...changes), `${who}.yaml`);
  const start = (who: "a" | "b", file: string) =>
    startController(t, ["--config", file, "--self", who === "a" ? "east-a" : "east-b"]);
  return { ...w, proxies, fileFor, start, tables: sideTables(w.seeded, EAST) };
}

/**
 * The link between east-a (the owner) and east-b cut while both are healthy: each controller
 * loses its partner's agent (its own view only), east-b's path probe (through east-a) fails
 * and east-a's passes, and the far pair's agents still see both tunnels up.
 */
async function linkCut(t: Test, leased: boolean) {
  const w = await world(t, { leased });
  // Each controller reaches its partner's agent through a view of its own, cut below.
  const partnerOfA = await ScriptedAgents.start(t, w.base);
  const partnerOfB = await ScriptedAgents.start(t, w.base);
  const a = await w.start(
    "a",
    await w.fileFor("a", edit.agentAt("east-b", partnerOfA.socket("east-b"))),
  );
  const b = await w.start(
    "b",
    await w.fileFor("b", edit.agentAt("east-a", partnerOfB.socket("east-a"))),
  );
  w.agents.setPaths("east-a", { "east-west": "up" });
  w.agents.setPaths("east-b", { "east-west": "up" });
  const key = leaseKey(w.seeded, EAST);
  await waitFor("both members healthy in both views", async () => {
    const [sa, sb] = await Promise.all([a.status(), b.status()]);
    const healthy = (s: typeof sa) =>
      s.sides
        .find((x: { pair: string }) => x.pair === EAST.pair)
        ?.members.every((m: { status: string }) => m.status === "healthy");
    return healthy(sa) && healthy(sb) && (!leased || (await held(a))[key]) ? true : undefined;
  });
  const before = await sideState(ec2.sdk, w.seeded, EAST);
  t.ok(allOn(before, "east-a"), "east-a owns the side");

  // The cut.
  await partnerOfA.down("east-b");
  await partnerOfB.down("east-a");
  w.agents.setPaths("east-b", { "east-west": "down" });
  const cutAt = Date.now();
  const changes: string[] = [];
  const bHeld: number[] = [];
  let samples = 0;
  let last: SideState = before;
  while (Date.now() - cutAt < CUT_WINDOW_MS) {
    const now = await sideState(ec2.sdk, w.seeded, EAST);
    samples++;
    if (JSON.stringify(now) !== JSON.stringify(last))
      changes.push(`${Date.now() - cutAt} ms: ${JSON.stringify(now)}`);
    last = now;
    if (leased && (await held(b))[key]) bHeld.push(Date.now() - cutAt);
    await sleep(500);
  }
  t.same(changes, [], `no route or fence change over ${CUT_WINDOW_MS / 1000} s (${samples} reads)`);
  t.same(mutating(w.proxies.a, w.tables), [], "east-a's controller sent no write");
  t.same(mutating(w.proxies.b, w.tables), [], "east-b's controller sent no write");
  t.same([...logged(a, "failover"), ...logged(b, "failover")], [], "no failover decided");

  // Each saw its partner cut off, and neither took that for a death.
  const member = async (c: typeof a, name: string) =>
    (await c.status()).sides
      .find((s: { pair: string }) => s.pair === EAST.pair)
      .members.find((m: { name: string }) => m.name === name);
  t.match(await member(b, "east-a"), {
    status: "unready",
    signals: ["agent-unreachable", "path-probe-failed"],
  });
  t.match(await member(a, "east-b"), { status: "unready", signals: ["agent-unreachable"] });
  t.equal(a.child.exitCode, null);
  t.equal(b.child.exitCode, null);
  if (leased) {
    const h = await held(a);
    t.ok(h[key], "east-a's controller keeps renewing the side's lease");
    t.equal(h[key]?.epoch, 1, "the same lease all along");
    t.same(bHeld, [], "east-b's controller never held it");
  }
}

t.test("the link between the members cut while both are healthy", async (t) => {
  t.jobs = 2;
  t.test("without a lease table: no route or fence change over 60 s", (t) => linkCut(t, false));
  t.test("with a lease table: no route or fence change over 60 s", (t) => linkCut(t, true));
});

/**
 * east-a really dies: its controller with it (SIGKILL), its agent gone, and the far pair's
 * agents see their tunnels to it down. east-b's controller claims the side, once.
 */
async function reallyDies(t: Test, leased: boolean) {
  const w = await world(t, { leased });
  const a = await w.start("a", await w.fileFor("a"));
  const b = await w.start("b", await w.fileFor("b"));
  const key = leaseKey(w.seeded, EAST);
  await Promise.all([ticks(a, POLICY.rise + 2), ticks(b, POLICY.rise + 2)]);
  if (leased)
    await waitFor("east-a's controller holds the lease", async () =>
      (await held(a))[key] ? true : undefined,
    );

  await a.kill();
  const diedAt = performance.now();
  await w.agents.down("east-a");
  w.agents.setTunnels("west-a", { "east-a": "down" });
  w.agents.setTunnels("west-b", { "east-a": "down" });
  const fence = leased ? "east-b@1 term=2" : "east-b@1";
  await waitFor("east-b claims", async () => {
    const s = await sideState(ec2.sdk, w.seeded, EAST);
    return allOn(s, "east-b") && s.fences.every((f) => f === fence) ? true : undefined;
  });
  t.comment(`claimed ${Math.round(performance.now() - diedAt)} ms after east-a died`);
  const writes = mutating(w.proxies.b, w.tables).length;
  await ticks(b, 10);
  t.match(logged(b, "failover", EAST), [
    { from: "east-a", to: "east-b", reason: "active-dead", epoch: 1 },
  ]);
  t.equal(logged(b, "failover").length, 1, "one claim");
  // On failure, what was written and what the controller warned of say why.
  const all = mutating(w.proxies.b, w.tables);
  const evidence = {
    writes: all.map((r) => ({ action: r.action, outcome: r.outcome, at: r.at })),
    warnings: b.log.filter((l) => Number(l.level) >= 40),
  };
  t.equal(all.length, writes, "nothing written after it", evidence);
  t.equal(all.filter((r) => r.action === "CreateTags").length, 1, "one fence write", evidence);
  if (leased) t.equal((await held(b))[key]?.epoch, 2, "under the next lease epoch");
}

t.test("a member that really dies loses its routes to its partner, once", async (t) => {
  t.jobs = 2;
  t.test("without a lease table", (t) => reallyDies(t, false));
  t.test("with a lease table", (t) => reallyDies(t, true));
});

t.test(
  "while the owner's controller renews the lease, a partner that believes the owner dead writes nothing",
  async (t) => {
    const w = await world(t, { leased: true });
    // east-b's controller: east-a's agent unreachable, and the far agents it reaches (a view of
    // its own) report their tunnels to east-a down: two signals, east-a dead in its view.
    const farOfB = await ScriptedAgents.start(t, w.base);
    farOfB.setTunnels("west-a", { "east-a": "down" });
    farOfB.setTunnels("west-b", { "east-a": "down" });
    const fileB = await w.fileFor(
      "b",
      edit.agentAt("east-a", deadSocket("east-a")),
      edit.agentAt("west-a", farOfB.socket("west-a")),
      edit.agentAt("west-b", farOfB.socket("west-b")),
    );
    const key = leaseKey(w.seeded, EAST);
    const a = await w.start("a", await w.fileFor("a"));
    await waitFor("east-a's controller holds the lease", async () =>
      (await held(a))[key] ? true : undefined,
    );
    const b = await w.start("b", fileB);
    const decided = await waitFor(
      "east-b's controller decides to claim",
      () => logged(b, "failover", EAST)[0],
    );
    t.match(decided, { from: "east-a", to: "east-b", reason: "active-dead" });
    const member = (await b.status()).sides
      .find((s: { pair: string }) => s.pair === EAST.pair)
      .members.find((m: { name: string }) => m.name === "east-a");
    t.match(member, { status: "dead", signals: ["agent-unreachable", "far-tunnels-down"] });

    // Three lease lifetimes: east-a's controller renews, east-b's cannot take the lease.
    const until = Date.now() + 3 * TTL_MS;
    const bHeld: number[] = [];
    while (Date.now() < until) {
      if ((await held(b))[key]) bHeld.push(Date.now());
      await sleep(100);
    }
    t.same(bHeld, [], "east-b's controller never held the lease");
    t.equal((await held(a))[key]?.epoch, 1, "east-a's controller still holds it, same epoch");
    t.same(mutating(w.proxies.b, w.tables), [], "east-b's controller wrote nothing");
    const s = await sideState(ec2.sdk, w.seeded, EAST);
    t.ok(allOn(s, "east-a"), "routes on east-a");
    t.same(s.fences, ["-", "-", "-"], "no fence");

    // What held it back was the lease: once east-a's controller is gone and the lease ran out,
    // east-b's controller writes its claim, under the next lease epoch.
    await a.kill();
    await waitFor("east-b's claim", async () => {
      const now = await sideState(ec2.sdk, w.seeded, EAST);
      return allOn(now, "east-b") && now.fences.every((f) => f === "east-b@1 term=2")
        ? true
        : undefined;
    });
    t.equal((await held(b))[key]?.epoch, 2);
  },
);
