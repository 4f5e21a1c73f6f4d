import {
  CreateTagsCommand,
  DescribeRouteTablesCommand,
  ReplaceRouteCommand,
  StopInstancesCommand,
} from "@aws-sdk/client-ec2";
import t, { type Test } from "tap";
import { Ec2 } from "../../control-plane/src/ec2/client.ts";
import { writeFence } from "../../control-plane/src/ec2/fences.ts";
import {
  fenceKey,
  LEGACY_FENCE_TAGS,
  parseFence,
} from "../../control-plane/src/fleet/fence-tags.ts";
import type { FailoverPolicy, Fleet } from "../../control-plane/src/fleet/types.ts";
import { waitFor } from "../helpers/agent-lab.ts";
import { FaultProxy } from "../helpers/fault-proxy.ts";
import { writeFleetFile } from "../helpers/fleet-file.ts";
import { type Seeded, type SeedSpec, seededFleet, seedFleet, startMoto } from "../helpers/moto.ts";
import { ScriptedAgents } from "../helpers/scripted-agents.ts";
import { type RunningController, startController } from "../helpers/swanpair-bin.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * Fences per connection side, with the controller as a process against moto (through the
 * fault proxy, which counts and slows what the controller sends) and scripted agents: sides
 * that share route tables (a hub pair, two pairs in one VPC) never disturb each other's
 * routes or fences, the tags of swanpair 0.1 are adopted and replaced, and a side whose
 * writes are slow delays no other side's failover.
 */

const moto = await startMoto(t);
const ec2 = new Ec2({ region: "eu-west-1", endpoint: moto.endpoint });
t.teardown(() => ec2.destroy());
const proxy = await FaultProxy.start(moto.endpoint);
t.teardown(() => proxy.close());

const FAST: FailoverPolicy = {
  intervalMs: 200,
  fall: 2,
  rise: 2,
  holdDownMs: 5000,
  preempt: false,
};

/** A seeded world whose controller reaches EC2 through the proxy. */
async function world(t: Test, spec: Omit<SeedSpec, "tag">) {
  await moto.reset();
  proxy.reset();
  const seeded = await seedFleet(ec2.sdk, {
    tag: { key: "swanpair:fleet", value: "sides-test" },
    ...spec,
  });
  const base: Fleet = { ...seededFleet(seeded, proxy.endpoint), failover: FAST };
  const agents = await ScriptedAgents.start(t, base);
  const fleet = agents.wire(base);
  const file = await writeFleetFile(await tempDir(t, "swp-sides-"), fleet);
  return { seeded, agents, file };
}

const appliances = (seeded: Seeded) =>
  seeded.vpcs.flatMap((v) => v.pairs.flatMap((p) => p.appliances));

function appliance(seeded: Seeded, name: string) {
  const found = appliances(seeded).find((a) => a.name === name);
  if (!found) throw new Error(`no appliance ${name}`);
  return found;
}

/** The route tables of the VPC that `pair` is in. */
function tablesOf(seeded: Seeded, pair: string): string[] {
  const vpc = seeded.vpcs.find((v) => v.pairs.some((p) => p.name === pair));
  if (!vpc) throw new Error(`no pair ${pair}`);
  return vpc.routeTables;
}

/**
 * What EC2 shows for one side, read straight from moto: per managed route the appliance it
 * points at; per table of the side, its own fence (`active@epoch`, "-" for none) and the
 * legacy shared fence.
 */
async function sideState(seeded: Seeded, connection: string, pair: string) {
  const tables = tablesOf(seeded, pair);
  const out = await ec2.sdk.send(new DescribeRouteTablesCommand({ RouteTableIds: tables }));
  const byEni = new Map(appliances(seeded).map((a) => [a.eni, a.name]));
  const managed = seeded.managedRoutes.filter(
    (r) => r.connection === connection && r.pair === pair,
  );
  const found = new Map(out.RouteTables?.map((tb) => [tb.RouteTableId ?? "", tb]));
  const owners = managed.map((r) => {
    const route = found
      .get(r.routeTable)
      ?.Routes?.find((x) => x.DestinationCidrBlock === r.destination);
    return byEni.get(route?.NetworkInterfaceId ?? "") ?? route?.NetworkInterfaceId ?? "missing";
  });
  const tag = (id: string, key: string) => found.get(id)?.Tags?.find((x) => x.Key === key)?.Value;
  const fences = tables.map((id) => {
    const f = parseFence(tag(id, fenceKey(connection, pair)));
    return f ? `${f.active}@${f.epoch}` : "-";
  });
  const legacy = tables.map((id) =>
    tag(id, LEGACY_FENCE_TAGS.active) === undefined
      ? "-"
      : `${tag(id, LEGACY_FENCE_TAGS.active)}@${tag(id, LEGACY_FENCE_TAGS.epoch)}`,
  );
  return { owners, fences, legacy };
}

const allOn = (owners: string[], member: string) =>
  owners.length > 0 && owners.every((o) => o === member);

async function ticks(c: RunningController, n: number) {
  const start = (await c.status()).ticks;
  await waitFor(`${n} ticks`, async () =>
    (await c.status()).ticks >= start + n ? true : undefined,
  );
}

/** Both signals of a dead appliance: its agent gone and EC2 reporting it stopped. */
async function kill(seeded: Seeded, agents: ScriptedAgents, name: string) {
  await agents.down(name);
  await ec2.sdk.send(
    new StopInstancesCommand({ InstanceIds: [appliance(seeded, name).instanceId] }),
  );
}

const logged = (c: RunningController, msg: string, connection: string, pair?: string) =>
  c.log.filter(
    (l) => l.msg === msg && l.connection === connection && (pair === undefined || l.pair === pair),
  );

t.test("a hub pair in two connections: failing over one leaves the other alone", async (t) => {
  // hub-pair (hub-a, hub-b) is in hub-east and hub-west; both sides route through hub's tables.
  const { seeded, agents, file } = await world(t, {
    vpcs: [
      { name: "hub", cidrs: ["10.1.0.0/16"], tables: 2 },
      { name: "east", cidrs: ["10.2.0.0/16"] },
      { name: "west", cidrs: ["10.3.0.0/16", "10.4.0.0/16"] },
    ],
    connections: [
      ["hub", "east"],
      ["hub", "west"],
    ],
  });
  const hub = tablesOf(seeded, "hub-pair");
  const at = new Date(Date.now() - 3_600_000).toISOString();
  // hub-west's fence is older than hub-east's next one will be: a shared fence would make
  // hub-west stand down and follow hub-east's move.
  await writeFence(
    ec2,
    hub,
    { connection: "hub-east", pair: "hub-pair" },
    { active: "hub-a", epoch: 4, at },
  );
  await writeFence(
    ec2,
    hub,
    { connection: "hub-west", pair: "hub-pair" },
    { active: "hub-a", epoch: 2, at },
  );
  const ctl = await startController(t, ["--config", file]);
  await ticks(ctl, 3);
  t.same(await sideState(seeded, "hub-east", "hub-pair"), {
    owners: ["hub-a", "hub-a"],
    fences: ["hub-a@4", "hub-a@4"],
    legacy: ["-", "-"],
  });
  const westBefore = await sideState(seeded, "hub-west", "hub-pair");
  t.same(westBefore.fences, ["hub-a@2", "hub-a@2"]);
  t.ok(allOn(westBefore.owners, "hub-a"));

  // The tunnel between hub-a and east's pair breaks, both ways; hub-a's tunnels to west stay up.
  agents.setTunnels("hub-a", { "east-a": "down", "east-b": "down" });
  agents.setTunnels("east-a", { "hub-a": "down" });
  agents.setTunnels("east-b", { "hub-a": "down" });
  await waitFor("hub-east on hub-b", async () => {
    const s = await sideState(seeded, "hub-east", "hub-pair");
    return allOn(s.owners, "hub-b") && s.fences.every((f) => f === "hub-b@5") ? true : undefined;
  });
  for (let i = 0; i < 10; i++) {
    await ticks(ctl, 1);
    t.same(
      await sideState(seeded, "hub-west", "hub-pair"),
      westBefore,
      `tick ${i}: hub-west's routes and fence as they were`,
    );
  }
  const status = await ctl.status();
  const side = (c: string) =>
    status.sides.find(
      (s: { connection: string; pair: string }) => s.connection === c && s.pair === "hub-pair",
    );
  t.match(side("hub-east"), { active: "hub-b", fence: { active: "hub-b", epoch: 5 } });
  t.match(side("hub-west"), { active: "hub-a", fence: { active: "hub-a", epoch: 2 }, drift: [] });
  t.match(
    side("hub-west").members,
    [{ name: "hub-a", status: "healthy" }, { name: "hub-b" }],
    "hub-a is healthy for hub-west",
  );
  t.equal(logged(ctl, "failover", "hub-east", "hub-pair").length, 1, "one failover for hub-east");
  t.same(logged(ctl, "failover", "hub-west"), [], "none for hub-west");
  t.same(logged(ctl, "newer decision on the route tables; standing down", "hub-west"), []);
  t.same(logged(ctl, "routes written", "hub-west"), [], "nothing written for hub-west");
});

t.test("two pairs in one VPC, both steady: no CreateTags at all over 20 ticks", async (t) => {
  // hub-pair (hub-a, hub-b) to x and hub-pair2 (hub-c, hub-d) to y, through the same tables.
  const { seeded, file } = await world(t, {
    vpcs: [
      { name: "hub", cidrs: ["10.1.0.0/16"], tables: 2, pairs: 2 },
      { name: "x", cidrs: ["10.2.0.0/16"] },
      { name: "y", cidrs: ["10.3.0.0/16"] },
    ],
    connections: [
      ["hub", "x"],
      ["hub-pair2", "y"],
    ],
  });
  const sides = [
    { connection: "hub-x", pair: "hub-pair", owner: "hub-a", other: "hub-b" },
    { connection: "hub-pair2-y", pair: "hub-pair2", owner: "hub-c", other: "hub-d" },
  ];
  const hub = tablesOf(seeded, "hub-pair");
  t.same(hub, tablesOf(seeded, "hub-pair2"), "both pairs route through the same tables");
  // Each side has its fence, and one route that drifted to the other member: the controller
  // heals both (a fence and a route each), then has nothing left to write.
  const at = new Date(Date.now() - 3_600_000).toISOString();
  for (const s of sides) {
    await writeFence(ec2, hub, s, { active: s.owner, epoch: 1, at });
    const drifted = seeded.managedRoutes.find(
      (r) => r.connection === s.connection && r.pair === s.pair,
    );
    await ec2.sdk.send(
      new ReplaceRouteCommand({
        RouteTableId: drifted?.routeTable,
        DestinationCidrBlock: drifted?.destination,
        NetworkInterfaceId: appliance(seeded, s.other).eni,
      }),
    );
  }
  const ctl = await startController(t, ["--config", file]);
  await waitFor("both sides healed", async () => {
    for (const s of sides) {
      const state = await sideState(seeded, s.connection, s.pair);
      if (!allOn(state.owners, s.owner) || state.fences.some((f) => f !== `${s.owner}@1`))
        return undefined;
    }
    return logged(ctl, "routes written", "hub-x").length > 0 &&
      logged(ctl, "routes written", "hub-pair2-y").length > 0
      ? true
      : undefined;
  });
  // A tick that read EC2 just before a heal landed may repeat it once: let that settle first.
  await ticks(ctl, 2);
  const healed = proxy.count("CreateTags");
  t.ok(healed >= 2 && healed <= 4, `a CreateTags per side to heal (${healed})`);
  const before = { tags: healed, routes: proxy.count("ReplaceRoute") };
  await ticks(ctl, 20);
  t.equal(proxy.count("CreateTags") - before.tags, 0, "no CreateTags over 20 ticks");
  t.equal(proxy.count("ReplaceRoute") - before.routes, 0, "no ReplaceRoute either");
  t.equal(proxy.count("DeleteTags"), 0, "no legacy tags to remove");
  for (const s of sides)
    t.same(
      (await sideState(seeded, s.connection, s.pair)).fences,
      [`${s.owner}@1`, `${s.owner}@1`],
      `${s.connection}/${s.pair}: its fence, untouched by the other side`,
    );
  t.same(
    ctl.log.filter(
      (l) =>
        l.msg === "stand-down" || l.msg === "newer decision on the route tables; standing down",
    ),
    [],
    "neither side ever saw the other's fence as newer",
  );
  t.ok((await ctl.status()).ticks >= 20);
});

t.test("legacy fence tags: adopted, replaced by per-side fences, then removed", async (t) => {
  const { seeded, agents, file } = await world(t, {
    vpcs: [
      { name: "east", cidrs: ["10.1.0.0/16"], tables: 2 },
      { name: "west", cidrs: ["10.2.0.0/16"] },
    ],
    connections: [["east", "west"]],
  });
  const east = tablesOf(seeded, "east-pair");
  const west = tablesOf(seeded, "west-pair");
  const at = new Date(Date.now() - 3_600_000).toISOString();
  const legacy = (Resources: string[], active: string, epoch: number) =>
    ec2.sdk.send(
      new CreateTagsCommand({
        Resources,
        Tags: [
          { Key: LEGACY_FENCE_TAGS.active, Value: active },
          { Key: LEGACY_FENCE_TAGS.epoch, Value: String(epoch) },
          { Key: LEGACY_FENCE_TAGS.at, Value: at },
        ],
      }),
    );
  // What swanpair 0.1 left: east's routes held by east-a at epoch 7, west's by west-a at 3.
  await legacy(east, "east-a", 7);
  await legacy(west, "west-a", 3);
  const ctl = await startController(t, ["--config", file]);
  await ticks(ctl, 3);
  t.match(
    logged(ctl, "adopted", "east-west", "east-pair"),
    [{ source: "fence", active: "east-a", epoch: 7 }],
    "east's side adopts the legacy fence",
  );
  t.match(logged(ctl, "adopted", "east-west", "west-pair"), [
    { source: "fence", active: "west-a", epoch: 3 },
  ]);
  t.same(
    ctl.log.filter((l) => l.msg === "failover"),
    [],
    "no failover",
  );
  t.ok(allOn((await sideState(seeded, "east-west", "east-pair")).owners, "east-a"), "same owner");

  // Each side's own fence replaces the shared one, same owner and epoch; then it goes.
  const replaced = await waitFor(
    "per-side fences and no legacy tags",
    async () => {
      const e = await sideState(seeded, "east-west", "east-pair");
      const w = await sideState(seeded, "east-west", "west-pair");
      const done =
        e.fences.every((f) => f === "east-a@7") &&
        w.fences.every((f) => f === "west-a@3") &&
        [...e.legacy, ...w.legacy].every((l) => l === "-");
      return done ? { e, w } : undefined;
    },
    10_000,
  ).catch((err: Error) => err);
  if (replaced instanceof Error) {
    t.fail(`the legacy tags were not replaced: ${replaced.message}`, {
      east: await sideState(seeded, "east-west", "east-pair"),
      west: await sideState(seeded, "east-west", "west-pair"),
      writes: proxy.count("CreateTags"),
      removals: proxy.count("DeleteTags"),
    });
  } else {
    t.pass("per-side fences written, legacy tags removed");
    t.ok(ctl.log.some((l) => l.msg === "legacy fence tags removed"));
  }
  t.same(
    ctl.log.filter((l) => l.msg === "failover"),
    [],
    "still no failover",
  );

  // The next move continues the adopted epoch.
  await kill(seeded, agents, "east-a");
  const moved = await waitFor("failover to east-b", async () => {
    const s = await sideState(seeded, "east-west", "east-pair");
    return allOn(s.owners, "east-b") && s.fences.every((f) => f === "east-b@8") ? s : undefined;
  });
  t.same(moved.fences, ["east-b@8", "east-b@8"], "epoch 8: above the adopted 7");
  t.match(logged(ctl, "failover", "east-west", "east-pair"), [
    { from: "east-a", to: "east-b", epoch: 8 },
  ]);
  // Every side of east's tables (only east's) has its own fence now: the legacy tags go.
  const fenceTags = async () => {
    const out = await ec2.sdk.send(new DescribeRouteTablesCommand({ RouteTableIds: east }));
    return (out.RouteTables ?? []).map((tb) =>
      (tb.Tags ?? [])
        .map((x) => x.Key)
        .filter((k) => k?.startsWith("swanpair:") && k !== "swanpair:fleet"),
    );
  };
  const onlyOwn = [fenceKey("east-west", "east-pair")];
  const cleaned = await waitFor(
    "legacy tags removed from east's tables",
    async () =>
      (await fenceTags()).every((keys) => JSON.stringify(keys) === JSON.stringify(onlyOwn))
        ? true
        : undefined,
    5000,
  ).catch(() => false);
  t.ok(cleaned, "east's tables carry only the side's own fence tag");
  if (!cleaned) t.comment(JSON.stringify(await fenceTags()));
});

t.test("a side whose writes are slow does not delay another side's failover", async (t) => {
  // Three independent connections, each side's tables its own. s1's side (12 routes in three
  // tables) will be slowed; s2's side moves meanwhile; s3's gives the unslowed time.
  const { seeded, agents, file } = await world(t, {
    vpcs: [
      { name: "s1", cidrs: ["10.1.0.0/16"], tables: 3 },
      { name: "r1", cidrs: ["10.11.0.0/16", "10.12.0.0/16", "10.13.0.0/16", "10.14.0.0/16"] },
      { name: "s2", cidrs: ["10.2.0.0/16"] },
      { name: "r2", cidrs: ["10.21.0.0/16"] },
      { name: "s3", cidrs: ["10.3.0.0/16"] },
      { name: "r3", cidrs: ["10.31.0.0/16"] },
    ],
    connections: [
      ["s1", "r1"],
      ["s2", "r2"],
      ["s3", "r3"],
    ],
  });
  const ctl = await startController(t, ["--config", file]);
  await ticks(ctl, 3);
  const movedTo = async (side: string, member: string) =>
    allOn((await sideState(seeded, side, `${side.split("-")[0]}-pair`)).owners, member);
  const timeTo = async (side: string, member: string, timeoutMs = 20_000) => {
    const started = performance.now();
    await waitFor(`${side} on ${member}`, () => movedTo(side, member), timeoutMs, 20);
    return performance.now() - started;
  };

  // The unslowed failover, from the death to the last route moved.
  await kill(seeded, agents, "s3-a");
  const unslowed = await timeTo("s3-r3", "s3-b");

  // Every write naming one of s1's tables takes 5 s (25 ticks), and its attempts time out.
  const slowTables = new Set(tablesOf(seeded, "s1-pair"));
  const WRITES = new Set(["CreateTags", "DeleteTags", "ReplaceRoute", "CreateRoute"]);
  const unslow = proxy.rule(({ action, params }) =>
    WRITES.has(action) && Object.values(params).some((v) => slowTables.has(v))
      ? { kind: "latency", ms: 5000 }
      : undefined,
  );
  const slowSeen = () =>
    proxy.requests().filter((r) => r.outcome === "latency" && WRITES.has(r.action)).length;
  await kill(seeded, agents, "s1-a");
  await waitFor("s1's write under way", () => slowSeen() > 0);
  const s1Started = performance.now();
  await kill(seeded, agents, "s2-a");
  const slowed = await timeTo("s2-r2", "s2-b");
  const s1Still = await sideState(seeded, "s1-r1", "s1-pair");
  t.comment(
    `s3 unslowed: ${Math.round(unslowed)} ms; s2 with s1 slowed: ${Math.round(slowed)} ms; ` +
      `s1 writing for ${Math.round(performance.now() - s1Started)} ms, ${slowSeen()} slowed request(s)`,
  );
  t.ok(
    slowed < unslowed + 2000,
    `s2 moved in ${Math.round(slowed)} ms, close to the unslowed ${Math.round(unslowed)} ms`,
  );
  t.notOk(allOn(s1Still.owners, "s1-b"), "while s1's side was still being written");
  t.ok(
    s1Still.fences.some((f) => f !== "s1-b@1"),
    `s1's fence had not landed everywhere yet (${s1Still.fences.join(", ")})`,
  );
  t.ok(logged(ctl, "routes written", "s2-r2").length > 0, "s2's write finished on its own");

  // Unslowed again, s1's side finishes the same decision.
  unslow();
  const finished = await timeTo("s1-r1", "s1-b", 30_000);
  t.comment(`s1 finished ${Math.round(finished)} ms after the slowing stopped`);
  await waitFor("s1's fence", async () =>
    (await sideState(seeded, "s1-r1", "s1-pair")).fences.every((f) => f === "s1-b@1")
      ? true
      : undefined,
  );
  t.same(
    ctl.log
      .filter((l) => l.msg === "failover")
      .map((l) => `${l.connection}/${l.pair} ${l.epoch}`)
      .sort(),
    ["s1-r1/s1-pair 1", "s2-r2/s2-pair 1", "s3-r3/s3-pair 1"],
    "one decision per side, nothing else moved",
  );
});
