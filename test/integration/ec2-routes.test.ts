import {
  CreateTagsCommand,
  DescribeRouteTablesCommand,
  ReplaceRouteCommand,
  type RouteTable,
} from "@aws-sdk/client-ec2";
import t, { type Test } from "tap";
import { Ec2, Ec2Error, type Ec2Options } from "../../control-plane/src/ec2/client.ts";
import { removeLegacyFences, sideFence, writeFence } from "../../control-plane/src/ec2/fences.ts";
import { describeInstances } from "../../control-plane/src/ec2/instances.ts";
import { describeManagedTables } from "../../control-plane/src/ec2/managed-tables.ts";
import { RouteWriteError, writeRoutes } from "../../control-plane/src/ec2/route-writes.ts";
import { fenceKey, LEGACY_FENCE_TAGS } from "../../control-plane/src/fleet/fence-tags.ts";
import type { ManagedRoute } from "../../control-plane/src/fleet/types.ts";
import { FaultProxy } from "../helpers/fault-proxy.ts";
import { type Seeded, type SeedSpec, seededFleet, seedFleet, startMoto } from "../helpers/moto.ts";

/**
 * The EC2 adapter against a real moto server: routes move, nothing unmanaged moves with them,
 * and through a fault proxy the retries converge in a bounded number of calls.
 */

const moto = await startMoto(t);
const proxy = await FaultProxy.start(moto.endpoint);
t.teardown(() => proxy.close());

const REGION = "eu-west-1";
/** Fast backoff so that each injected fault costs milliseconds. */
const FAST: Partial<Ec2Options> = {
  callTimeoutMs: 1000,
  baseDelayMs: 10,
  maxDelayMs: 100,
  maxAttempts: 5,
};

/** east-pair manages 3 tables × 3 west CIDRs; west-pair 1 table × 2 east CIDRs, one missing. */
const SPEC: SeedSpec = {
  tag: { key: "swanpair:fleet", value: "test" },
  vpcs: [
    { name: "east", cidrs: ["10.1.0.0/16", "10.11.0.0/16"], tables: 3 },
    { name: "west", cidrs: ["10.2.0.0/16", "10.12.0.0/16", "10.22.0.0/16"] },
  ],
  connections: [["east", "west"]],
  missing: ["10.11.0.0/16"],
  sourceDestCheckOn: ["west-b"],
};

function client(t: Test, endpoint: string, options: Partial<Ec2Options> = FAST): Ec2 {
  const ec2 = new Ec2({ region: REGION, endpoint }, options);
  t.teardown(() => ec2.destroy());
  return ec2;
}

/** A freshly seeded moto, a client straight to it and one through the (reset) proxy. */
async function world(t: Test, viaOptions: Partial<Ec2Options> = FAST) {
  await moto.reset();
  proxy.reset();
  const direct = client(t, moto.endpoint);
  const seed = await seedFleet(direct.sdk, SPEC);
  return { seed, direct, via: client(t, proxy.endpoint, viaOptions) };
}

const routesOf = (seed: Seeded, pair: string) => seed.managedRoutes.filter((r) => r.pair === pair);

function eniOf(seed: Seeded, appliance: string): string {
  const found = seed.vpcs.flatMap((v) => v.appliances).find((a) => a.name === appliance);
  if (!found) throw new Error(`no appliance ${appliance}`);
  return found.eni;
}

/** The tables as DescribeRouteTables shows them, read around the module under test. */
async function rawTables(ec2: Ec2, seed: Seeded): Promise<RouteTable[]> {
  const ids = seed.vpcs.flatMap((v) => v.routeTables);
  const out = await ec2.sdk.send(new DescribeRouteTablesCommand({ RouteTableIds: ids }));
  return out.RouteTables ?? [];
}

function rawEni(tables: RouteTable[], route: ManagedRoute): string | undefined {
  return tables
    .find((tb) => tb.RouteTableId === route.routeTable)
    ?.Routes?.find((r) => r.DestinationCidrBlock === route.destination)?.NetworkInterfaceId;
}

/** Every route except the managed ones, as text, for before/after comparison. */
function unmanaged(tables: RouteTable[], seed: Seeded): string[] {
  const managed = new Set(seed.managedRoutes.map((r) => `${r.routeTable} ${r.destination}`));
  return tables.flatMap((tb) =>
    (tb.Routes ?? [])
      .filter((r) => !managed.has(`${tb.RouteTableId} ${r.DestinationCidrBlock}`))
      .map((r) => `${tb.RouteTableId} ${JSON.stringify(r)}`),
  );
}

const actions = (outcomes: Array<{ route: ManagedRoute; action: string }>) =>
  outcomes.map((o) => `${o.route.destination} ${o.action}`).sort();

t.test(
  "writeRoutes moves a pair's routes, creates the missing one, touches nothing else",
  async (t) => {
    const { seed, direct } = await world(t);
    const before = await rawTables(direct, seed);
    const west = routesOf(seed, "west-pair");
    const eniB = eniOf(seed, "west-b");

    const outcomes = await writeRoutes(direct, west, eniB, { precheck: false });
    t.same(actions(outcomes), ["10.1.0.0/16 replaced", "10.11.0.0/16 created"]);
    t.same(direct.calls.snapshot(), {
      ReplaceRoute: { ok: 1, "client-error": 1 },
      CreateRoute: { ok: 1 },
    });

    const after = await rawTables(direct, seed);
    for (const route of west) t.equal(rawEni(after, route), eniB, `${route.destination} on west-b`);
    for (const route of routesOf(seed, "east-pair"))
      t.equal(rawEni(after, route), eniOf(seed, "east-a"), `${route.destination} still on east-a`);
    t.same(unmanaged(after, seed), unmanaged(before, seed), "unmanaged routes unchanged");
    const perTable = (v: Seeded["vpcs"][number]) => v.cidrs.length + 2;
    t.equal(
      unmanaged(before, seed).length,
      seed.vpcs.reduce((n, v) => n + v.routeTables.length * perTable(v), 0),
      "a local route per VPC CIDR, the default route and the appliance route, in every table",
    );

    const view = await describeManagedTables(direct, seededFleet(seed, moto.endpoint), west);
    t.same(
      view.routes.map((r) => r.target),
      west.map(() => ({ kind: "eni", eni: eniB, blackhole: false })),
    );
  },
);

t.test("describeManagedTables reports missing routes and unknown tables", async (t) => {
  const { seed, direct } = await world(t);
  const fleet = seededFleet(seed, moto.endpoint);
  const west = fleet.vpcs.find((v) => v.name === "west");
  west?.routeTables.push("rtb-0000000000000dead");
  const view = await describeManagedTables(direct, fleet, seed.managedRoutes);
  t.same(view.missingTables, ["rtb-0000000000000dead"]);
  t.equal(view.tables.length, 4);
  t.ok(view.tables.every((tb) => tb.fleetTagged));
  t.same(
    view.tables.map((tb) => tb.fences),
    view.tables.map(() => ({ sides: {} })),
    "no fence of any side, and no legacy fence, before the first write",
  );
  const missing = view.routes.filter((r) => r.target.kind === "missing");
  t.same(
    missing.map((r) => r.destination),
    ["10.11.0.0/16"],
  );
  t.equal(direct.calls.count("DescribeRouteTables"), 1, "one call for all tables");
});

t.test("precheck skips routes already on the ENI", async (t) => {
  const { seed, direct } = await world(t);
  const east = routesOf(seed, "east-pair");
  const eniB = eniOf(seed, "east-b");
  await writeRoutes(direct, east, eniB, { precheck: false });
  t.equal(direct.calls.count("ReplaceRoute"), east.length);

  direct.calls.reset();
  const again = await writeRoutes(direct, east, eniB, { precheck: true });
  t.ok(again.every((o) => o.action === "skipped"));
  t.same(direct.calls.snapshot(), { DescribeRouteTables: { ok: 1 } }, "no writes at all");

  const moved = east[4] as ManagedRoute;
  await direct.sdk.send(
    new ReplaceRouteCommand({
      RouteTableId: moved.routeTable,
      DestinationCidrBlock: moved.destination,
      NetworkInterfaceId: eniOf(seed, "east-a"),
    }),
  );
  direct.calls.reset();
  const fixed = await writeRoutes(direct, east, eniB, { precheck: true });
  t.same(
    fixed.filter((o) => o.action !== "skipped").map((o) => o.route),
    [moved],
  );
  t.equal(direct.calls.count("ReplaceRoute"), 1, "only the stray route is written");
});

t.test("a side's fence is written under its own key on every table and read back", async (t) => {
  const { seed, direct } = await world(t);
  const fleet = seededFleet(seed, moto.endpoint);
  const tables = fleet.vpcs.flatMap((v) => v.routeTables);
  const east = { connection: "east-west", pair: "east-pair" };
  const west = { connection: "east-west", pair: "west-pair" };
  const at = new Date(Date.UTC(2025, 0, 2, 3, 4, 5)).toISOString();
  await writeFence(direct, tables, east, { active: "east-b", epoch: 7, at });
  t.same(direct.calls.snapshot(), { CreateTags: { ok: 1 } }, "one CreateTags for all tables");
  let view = await describeManagedTables(direct, fleet, []);
  const eastKey = fenceKey(east.connection, east.pair);
  for (const table of view.tables) {
    t.same(table.fences, { sides: { [eastKey]: { active: "east-b", epoch: 7, at } } });
    t.ok(table.fleetTagged, "the fleet tag is kept");
  }
  const raw = await rawTables(direct, seed);
  t.same(
    raw[0]?.Tags?.find((tag) => tag.Key === eastKey)?.Value,
    `active=east-b epoch=7 at=${at}`,
    "one tag per side: owner, epoch and time in one value",
  );

  // Another side on the same tables (as a hub pair's sides share them) leaves this one alone.
  await writeFence(direct, tables, west, { active: "west-b", epoch: 2, at });
  await writeFence(direct, tables, east, { active: "east-a", epoch: 8, at });
  view = await describeManagedTables(direct, fleet, []);
  for (const table of view.tables) {
    t.same(sideFence(table.fences, east.connection, east.pair), {
      active: "east-a",
      epoch: 8,
      at,
    });
    t.same(
      sideFence(table.fences, west.connection, west.pair),
      { active: "west-b", epoch: 2, at },
      `${table.id}: west's fence survives east's newer one`,
    );
  }
});

t.test(
  "legacy fence tags are read as a side's fence until it has its own, then removed",
  async (t) => {
    const { seed, direct } = await world(t);
    const fleet = seededFleet(seed, moto.endpoint);
    const tables = fleet.vpcs.flatMap((v) => v.routeTables);
    const [first, ...others] = tables;
    const at = new Date(Date.UTC(2024, 5, 6)).toISOString();
    // What swanpair 0.1 wrote: three shared tags.
    await direct.sdk.send(
      new CreateTagsCommand({
        Resources: tables,
        Tags: [
          { Key: LEGACY_FENCE_TAGS.active, Value: "east-a" },
          { Key: LEGACY_FENCE_TAGS.epoch, Value: "4" },
          { Key: LEGACY_FENCE_TAGS.at, Value: at },
        ],
      }),
    );
    const legacy = { active: "east-a", epoch: 4, at };
    let view = await describeManagedTables(direct, fleet, []);
    for (const table of view.tables) {
      t.same(table.fences, { sides: {}, legacy });
      t.same(sideFence(table.fences, "east-west", "east-pair"), legacy, "read as the side's fence");
    }
    const own = { active: "east-b", epoch: 5, at };
    await writeFence(direct, [first ?? ""], { connection: "east-west", pair: "east-pair" }, own);
    view = await describeManagedTables(direct, fleet, []);
    const byId = new Map(view.tables.map((tb) => [tb.id, tb]));
    t.same(
      sideFence(byId.get(first ?? "")?.fences, "east-west", "east-pair"),
      own,
      "the side's own tag wins over the legacy one",
    );
    for (const id of others)
      t.same(
        sideFence(byId.get(id)?.fences, "east-west", "east-pair"),
        legacy,
        `${id}: still legacy`,
      );

    direct.calls.reset();
    await removeLegacyFences(direct, tables);
    t.same(direct.calls.snapshot(), { DeleteTags: { ok: 1 } }, "one DeleteTags for all tables");
    const after = await rawTables(direct, seed);
    for (const table of after) {
      const keys = (table.Tags ?? []).map((tag) => tag.Key);
      t.notOk(
        keys.some((k) => Object.values<string | undefined>(LEGACY_FENCE_TAGS).includes(k)),
        `${table.RouteTableId}: legacy tags gone`,
      );
      t.ok(keys.includes(SPEC.tag.key), `${table.RouteTableId}: the fleet tag stays`);
    }
    view = await describeManagedTables(direct, fleet, []);
    t.same(byIdFences(view, first ?? ""), { sides: { [fenceKey("east-west", "east-pair")]: own } });
  },
);

const byIdFences = (view: { tables: Array<{ id: string; fences: unknown }> }, id: string) =>
  view.tables.find((tb) => tb.id === id)?.fences;

t.test("a DryRun fence write is checked by EC2 and changes nothing", async (t) => {
  const { seed, direct } = await world(t);
  const fleet = seededFleet(seed, moto.endpoint);
  const tables = fleet.vpcs.flatMap((v) => v.routeTables);
  const before = await rawTables(direct, seed);
  const error = await writeFence(
    direct,
    tables,
    { connection: "east-west", pair: "east-pair" },
    { active: "east-b", epoch: 1, at: new Date().toISOString() },
    { dryRun: true },
  ).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.match(
    error,
    { name: "Ec2Error", code: "DryRunOperation", attempts: 1 },
    "EC2's yes to a DryRun",
  );
  t.same(
    (await rawTables(direct, seed)).map((tb) => tb.Tags),
    before.map((tb) => tb.Tags),
    "no tag written",
  );
});

t.test("describeInstances reports state, AZ and SourceDestCheck", async (t) => {
  const { seed, direct } = await world(t);
  const appliances = seed.vpcs.flatMap((v) => v.appliances);
  const found = await describeInstances(direct, [
    ...appliances.map((a) => a.instanceId),
    "i-0000000000000dead",
  ]);
  t.equal(found.size, appliances.length, "the unknown instance is absent");
  for (const a of appliances) {
    const state = found.get(a.instanceId);
    const checking = a.name === "west-b";
    t.equal(state?.az, a.az, `${a.name} AZ`);
    t.match(state?.state, /^(pending|running)$/);
    t.equal(state?.sourceDestCheck, checking, `${a.name} SourceDestCheck`);
    t.same(state?.enis, [{ eni: a.eni, sourceDestCheck: checking }]);
  }
});

t.test("throttling and 500s are retried and the write converges", async (t) => {
  const { seed, direct, via } = await world(t);
  const east = routesOf(seed, "east-pair");
  const eniB = eniOf(seed, "east-b");
  proxy.inject(
    "ReplaceRoute",
    { kind: "throttle" },
    { kind: "throttle" },
    { kind: "server-error" },
  );
  await writeRoutes(via, east, eniB, { precheck: false });
  t.equal(proxy.count("ReplaceRoute"), east.length + 3, "one extra request per fault");
  t.same(via.calls.snapshot(), {
    ReplaceRoute: { ok: east.length, throttled: 2, "server-error": 1 },
  });
  const after = await rawTables(direct, seed);
  t.ok(east.every((r) => rawEni(after, r) === eniB));
});

t.test("a call slower than the per-call timeout is retried", async (t) => {
  const { seed, via } = await world(t, { ...FAST, callTimeoutMs: 300 });
  const route = routesOf(seed, "east-pair").slice(0, 1);
  proxy.inject("ReplaceRoute", { kind: "latency", ms: 2000 });
  const started = Date.now();
  await writeRoutes(via, route, eniOf(seed, "east-b"), { precheck: false });
  t.ok(Date.now() - started < 1500, "did not wait for the slow answer");
  t.same(via.calls.snapshot(), { ReplaceRoute: { timeout: 1, ok: 1 } });
});

t.test("a dropped connection is retried", async (t) => {
  const { seed, via } = await world(t);
  const route = routesOf(seed, "east-pair").slice(0, 1);
  proxy.inject("ReplaceRoute", { kind: "drop" });
  await writeRoutes(via, route, eniOf(seed, "east-b"), { precheck: false });
  t.same(via.calls.snapshot(), { ReplaceRoute: { network: 1, ok: 1 } });
});

t.test("a route created meanwhile is replaced after RouteAlreadyExists", async (t) => {
  const { seed, direct, via } = await world(t);
  const route = routesOf(seed, "east-pair").slice(0, 1);
  const eniB = eniOf(seed, "east-b");
  proxy.inject("ReplaceRoute", { kind: "error", status: 400, code: "InvalidRoute.NotFound" });
  proxy.inject("CreateRoute", { kind: "error", status: 400, code: "RouteAlreadyExists" });
  const outcomes = await writeRoutes(via, route, eniB, { precheck: false });
  t.same(actions(outcomes), [`${route[0]?.destination} replaced`]);
  t.same(via.calls.snapshot(), {
    ReplaceRoute: { "client-error": 1, ok: 1 },
    CreateRoute: { "client-error": 1 },
  });
  t.equal(rawEni(await rawTables(direct, seed), route[0] as ManagedRoute), eniB);
});

t.test("an EC2-like token bucket: writes converge once it refills", async (t) => {
  const { seed, direct, via } = await world(t, {
    ...FAST,
    baseDelayMs: 100,
    maxDelayMs: 1000,
    maxAttempts: 8,
  });
  const east = routesOf(seed, "east-pair");
  const eniB = eniOf(seed, "east-b");
  proxy.throttle({ size: 3, refillPerSecond: 10 });
  await writeRoutes(via, east, eniB, { precheck: false });
  const requests = proxy.count("ReplaceRoute");
  t.ok(proxy.count("ReplaceRoute", "bucket-empty") > 0, "the bucket ran dry");
  t.ok(requests <= east.length * 8, `bounded: ${requests} requests for ${east.length} routes`);
  const after = await rawTables(direct, seed);
  t.ok(east.every((r) => rawEni(after, r) === eniB));
});

t.test("after a throttle, attempts are paced to the refill rate instead of hammered", async (t) => {
  const throttledFor = async (pacedPerSecond: number) => {
    const { seed, direct, via } = await world(t, { ...FAST, maxAttempts: 100, pacedPerSecond });
    const east = routesOf(seed, "east-pair");
    proxy.throttle({ size: 2, refillPerSecond: 5 });
    await writeRoutes(via, east, eniOf(seed, "east-b"), { precheck: false });
    const after = await rawTables(direct, seed);
    t.ok(
      east.every((r) => rawEni(after, r) === eniOf(seed, "east-b")),
      "converged",
    );
    return proxy.count("ReplaceRoute", "bucket-empty");
  };
  const paced = await throttledFor(5);
  const unpaced = await throttledFor(1e6);
  // 9 routes, 2 tokens: 7 wait for the refill. Paced, about one rejected attempt per route.
  t.ok(paced <= 12, `paced: ${paced} throttled attempts`);
  t.ok(unpaced > paced * 2, `unpaced: ${unpaced} throttled attempts (paced ${paced})`);
});

t.test("no more than `concurrency` attempts are in flight", async (t) => {
  const { seed, via } = await world(t, { ...FAST, concurrency: 3 });
  const east = routesOf(seed, "east-pair");
  proxy.inject("ReplaceRoute", ...east.map(() => ({ kind: "latency" as const, ms: 100 })));
  await writeRoutes(via, east, eniOf(seed, "east-b"), { precheck: false });
  t.equal(proxy.peakInFlight, 3);
});

t.test("a permanent error fails at once and names its code", async (t) => {
  const { seed, direct, via } = await world(t);
  const before = await rawTables(direct, seed);
  const routes = routesOf(seed, "west-pair");
  const error = await writeRoutes(via, routes, "eni-0000000000000dead", { precheck: false }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(error instanceof RouteWriteError, "RouteWriteError");
  const failures = (error as RouteWriteError).failures;
  t.same(
    failures
      .map((f) => [f.route.destination, f.error.operation, f.error.code, f.error.attempts])
      .sort(),
    [
      ["10.1.0.0/16", "ReplaceRoute", "InvalidNetworkInterfaceID.NotFound", 1],
      ["10.11.0.0/16", "CreateRoute", "InvalidNetworkInterfaceID.NotFound", 1],
    ],
  );
  t.equal(proxy.count(), 3, "ReplaceRoute twice, CreateRoute once (for the missing route)");
  t.same(unmanaged(await rawTables(direct, seed), seed), unmanaged(before, seed));
  t.equal(rawEni(await rawTables(direct, seed), routes[0] as ManagedRoute), eniOf(seed, "west-a"));
});

t.test("retries stop after maxAttempts", async (t) => {
  const { seed, via } = await world(t);
  proxy.inject("DescribeRouteTables", ...Array(5).fill({ kind: "throttle" }));
  const error = await describeManagedTables(via, seededFleet(seed, proxy.endpoint), []).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(error instanceof Ec2Error);
  t.match(error, { code: "RequestLimitExceeded", attempts: 5, retryable: true });
  t.equal(proxy.count("DescribeRouteTables"), 5);
});

t.test("AWS_ENDPOINT_URL_EC2 applies when the fleet names no endpoint", async (t) => {
  const { seed } = await world(t);
  const ec2 = new Ec2({ region: REGION }, FAST, { AWS_ENDPOINT_URL_EC2: moto.endpoint });
  t.teardown(() => ec2.destroy());
  // Checked before any call, so that a regression cannot send a request off this machine.
  const resolved = await ec2.sdk.config.endpoint?.();
  if (!t.equal(resolved?.hostname, "127.0.0.1", "the SDK resolved the override")) return;
  const a = seed.vpcs[0]?.appliances[0];
  const found = await describeInstances(ec2, [a?.instanceId ?? ""]);
  t.equal(found.get(a?.instanceId ?? "")?.az, a?.az);
  t.throws(() => new Ec2({ region: REGION, endpoint: "not a url" }), /not a URL/);
});
