import {
  DescribeRouteTablesCommand,
  DisassociateRouteTableCommand,
  ReplaceRouteCommand,
  ReplaceRouteTableAssociationCommand,
  type RouteTable,
} from "@aws-sdk/client-ec2";
import t, { type Test } from "tap";
import { checkFleetAgainstEc2 } from "../../control-plane/src/checks/fleet-vs-ec2.ts";
import { sidesOf } from "../../control-plane/src/decide/sides.ts";
import { Ec2, type Ec2Options } from "../../control-plane/src/ec2/client.ts";
import { sideFence, writeFence } from "../../control-plane/src/ec2/fences.ts";
import { describeInstances } from "../../control-plane/src/ec2/instances.ts";
import { describeManagedTables } from "../../control-plane/src/ec2/managed-tables.ts";
import { writeRoutes } from "../../control-plane/src/ec2/route-writes.ts";
import { describeSwapSubnets, prepareSwapTables } from "../../control-plane/src/ec2/swap.ts";
import { managedRoutes, preparedRoutes } from "../../control-plane/src/fleet/routes.ts";
import type {
  Fleet,
  ManagedAssociation,
  ManagedRoute,
} from "../../control-plane/src/fleet/types.ts";
import { FaultProxy } from "../helpers/fault-proxy.ts";
import { type Seeded, type SeedSpec, seededFleet, seedFleet, startMoto } from "../helpers/moto.ts";

/**
 * Swap mode against a real moto server: a failover moves each subnet of a swap group with one
 * ReplaceRouteTableAssociation, routes in the member tables stay where they were prepared, and
 * the precheck, the fallbacks and the prepare step hold. See docs/decisions/0009.
 */

const moto = await startMoto(t);
const proxy = await FaultProxy.start(moto.endpoint);
t.teardown(() => proxy.close());

const REGION = "eu-west-1";
const FAST: Partial<Ec2Options> = { callTimeoutMs: 1000, baseDelayMs: 10, maxDelayMs: 100 };

/**
 * east: one in-place table and two swap groups of two subnets each (member tables keyed by
 * east-a and east-b, subnets on east-a's); west: one in-place table. West has two CIDRs, so
 * each east member table holds two prepared routes.
 */
const SPEC: SeedSpec = {
  tag: { key: "swanpair:fleet", value: "swap" },
  vpcs: [
    { name: "east", cidrs: ["10.1.0.0/16"], tables: 1, swap: { groups: 2, subnetsPerGroup: 2 } },
    { name: "west", cidrs: ["10.2.0.0/16", "10.12.0.0/16"] },
  ],
  connections: [["east", "west"]],
};

function client(t: Test, endpoint: string): Ec2 {
  const ec2 = new Ec2({ region: REGION, endpoint }, FAST);
  t.teardown(() => ec2.destroy());
  return ec2;
}

async function world(t: Test, spec: SeedSpec = SPEC) {
  await moto.reset();
  proxy.reset();
  const direct = client(t, moto.endpoint);
  const seed = await seedFleet(direct.sdk, spec);
  const fleet = seededFleet(seed, moto.endpoint);
  const side = sidesOf(fleet).find((s) => s.pair === "east-pair");
  if (!side) throw new Error("no east side");
  return { seed, fleet, side, direct, via: client(t, proxy.endpoint) };
}

const eniOf = (seed: Seeded, name: string) =>
  seed.vpcs.flatMap((v) => v.appliances).find((a) => a.name === name)?.eni as string;
const units = (routes: ManagedRoute[]) =>
  routes.filter((r): r is ManagedAssociation => r.kind === "association");

/** Every table of the seeded VPCs, read around the module under test. */
async function rawTables(ec2: Ec2, fleet: Fleet): Promise<RouteTable[]> {
  const out = await ec2.sdk.send(
    new DescribeRouteTablesCommand({
      Filters: [{ Name: "vpc-id", Values: fleet.vpcs.map((v) => v.id) }],
    }),
  );
  return out.RouteTables ?? [];
}

/** Subnet id to the table it is explicitly associated with. */
function associated(tables: RouteTable[]): Map<string, string> {
  return new Map(
    tables.flatMap((tb) =>
      (tb.Associations ?? []).flatMap((a) =>
        a.SubnetId ? [[a.SubnetId, tb.RouteTableId ?? ""] as const] : [],
      ),
    ),
  );
}

/** Every route of every table but the fleet's in-place managed ones, as text. */
function otherRoutes(tables: RouteTable[], seed: Seeded): string[] {
  const managed = new Set(seed.managedRoutes.map((r) => `${r.routeTable} ${r.destination}`));
  return tables
    .flatMap((tb) =>
      (tb.Routes ?? [])
        .filter((r) => !managed.has(`${tb.RouteTableId} ${r.DestinationCidrBlock}`))
        .map(
          (r) =>
            `${tb.RouteTableId} ${r.DestinationCidrBlock} ${r.NetworkInterfaceId ?? r.GatewayId}`,
        ),
    )
    .sort();
}

const actions = (outcomes: Array<{ route: ManagedRoute; action: string }>) =>
  outcomes.map((o) => `${o.route.routeTable} ${o.action}`).sort();

t.test("managedRoutes: one association per swap subnet, after the in-place routes", async (t) => {
  const { seed, side } = await world(t);
  const east = seed.vpcs[0] as Seeded["vpcs"][number];
  t.same(
    side.routes.map((r) => [r.kind ?? "route", r.routeTable, r.destination]),
    [
      ["route", east.routeTables[0], "10.2.0.0/16"],
      ["route", east.routeTables[0], "10.12.0.0/16"],
      ...east.swap.flatMap((g) => g.subnets.map((s) => ["association", s, "association"])),
    ],
  );
  t.same(
    side.routeTables,
    [...east.routeTables, ...east.swap.flatMap((g) => [g.tables["east-a"], g.tables["east-b"]])],
    "the fence goes on the in-place table and every member table",
  );
});

t.test(
  "a swap failover: one ReplaceRouteTableAssociation per subnet, nothing else moves",
  async (t) => {
    const { seed, fleet, side, direct, via } = await world(t);
    const eniB = eniOf(seed, "east-b");
    const before = await rawTables(direct, fleet);
    const view0 = await describeManagedTables(via, fleet, side.routes);
    t.ok(
      view0.routes.every((r) => r.target.kind === "eni" && r.target.eni === eniOf(seed, "east-a")),
      "everything starts on east-a",
    );

    // As the controller executes a WriteRoutes action: fence tags first, then the units.
    via.calls.reset();
    await writeFence(via, side.routeTables, side, {
      active: "east-b",
      epoch: 2,
      at: new Date(0).toISOString(),
    });
    const outcomes = await writeRoutes(via, side.routes, eniB, { precheck: false });
    t.same(actions(outcomes), side.routes.map((r) => `${r.routeTable} replaced`).sort());
    t.same(via.calls.snapshot(), {
      CreateTags: { ok: 1 },
      // The association ids are read by subnet, in one call for all four subnets.
      DescribeRouteTables: { ok: 1 },
      ReplaceRouteTableAssociation: { ok: 4 },
      ReplaceRoute: { ok: 2 },
    });

    const after = await rawTables(direct, fleet);
    const on = associated(after);
    for (const group of seed.vpcs[0]?.swap ?? [])
      for (const subnet of group.subnets)
        t.equal(on.get(subnet), group.tables["east-b"], `${subnet} on east-b's table`);
    t.same(
      otherRoutes(after, seed),
      otherRoutes(before, seed),
      "member tables and unmanaged routes unchanged",
    );

    const view = await describeManagedTables(via, fleet, side.routes);
    t.ok(
      view.routes.every((r) => r.target.kind === "eni" && r.target.eni === eniB),
      "read back on east-b",
    );
    const members = new Set(side.routeTables);
    const fenced = view.tables.filter((tb) => members.has(tb.id));
    t.equal(fenced.length, side.routeTables.length);
    t.ok(
      fenced.every((tb) => {
        const fence = sideFence(tb.fences, side.connection, side.pair);
        return fence?.active === "east-b" && fence.epoch === 2;
      }),
      "the side's fence on every member table",
    );
  },
);

t.test("the precheck skips subnets already on the target table", async (t) => {
  const { seed, fleet, side, direct, via } = await world(t);
  const eniB = eniOf(seed, "east-b");
  const [first, ...rest] = units(side.routes);
  if (!first) throw new Error("no association");
  // One subnet is already on east-b's table, moved by someone else.
  const current = await rawTables(direct, fleet);
  const id = current
    .flatMap((tb) => tb.Associations ?? [])
    .find((a) => a.SubnetId === first.subnet)?.RouteTableAssociationId;
  await direct.sdk.send(
    new ReplaceRouteTableAssociationCommand({
      AssociationId: id,
      RouteTableId: first.members.find((m) => m.eni === eniB)?.table,
    }),
  );
  via.calls.reset();
  const outcomes = await writeRoutes(via, units(side.routes), eniB, { precheck: true });
  t.same(
    actions(outcomes),
    [`${first.routeTable} skipped`, ...rest.map((u) => `${u.routeTable} replaced`)].sort(),
  );
  t.equal(
    via.calls.count("ReplaceRouteTableAssociation"),
    rest.length,
    "only the others are written",
  );

  via.calls.reset();
  const again = await writeRoutes(via, units(side.routes), eniB, { precheck: false });
  t.ok(
    again.every((o) => o.action === "skipped"),
    "associations are read either way",
  );
  t.same(via.calls.snapshot(), { DescribeRouteTables: { ok: 1 } }, "no writes at all");
});

t.test("an association id that changed meanwhile is read again and replaced", async (t) => {
  const { seed, fleet, side, direct, via } = await world(t);
  const [unit] = units(side.routes);
  if (!unit) throw new Error("no association");
  const eniB = eniOf(seed, "east-b");
  // moto, like EC2: the replaced association id no longer exists.
  const tables = await rawTables(direct, fleet);
  const old = tables.flatMap((tb) => tb.Associations ?? []).find((a) => a.SubnetId === unit.subnet);
  const target = unit.members.find((m) => m.eni === eniB)?.table;
  await direct.sdk.send(
    new ReplaceRouteTableAssociationCommand({
      AssociationId: old?.RouteTableAssociationId,
      RouteTableId: target,
    }),
  );
  await t.rejects(
    direct.sdk.send(
      new ReplaceRouteTableAssociationCommand({
        AssociationId: old?.RouteTableAssociationId,
        RouteTableId: old?.RouteTableId,
      }),
    ),
    { name: "InvalidAssociationID.NotFound" },
  );

  // The adapter's own read goes stale: EC2 answers as it would for an id replaced in between.
  proxy.inject("ReplaceRouteTableAssociation", {
    kind: "error",
    status: 400,
    code: "InvalidAssociationID.NotFound",
  });
  const back = unit.members.find((m) => m.eni !== eniB) as ManagedAssociation["members"][number];
  const outcomes = await writeRoutes(via, [unit], back.eni, { precheck: false });
  t.same(actions(outcomes), [`${unit.routeTable} replaced`]);
  t.same(via.calls.snapshot(), {
    DescribeRouteTables: { ok: 2 },
    ReplaceRouteTableAssociation: { "client-error": 1, ok: 1 },
  });
  t.equal(associated(await rawTables(direct, fleet)).get(unit.subnet), back.table);
});

t.test("a subnet with no explicit association is associated; elsewhere, it is moved", async (t) => {
  const { seed, fleet, side, direct, via } = await world(t);
  const [lost, strayed] = units(side.routes);
  if (!lost || !strayed) throw new Error("no associations");
  const tables = await rawTables(direct, fleet);
  const idOf = (subnet: string) =>
    tables.flatMap((tb) => tb.Associations ?? []).find((a) => a.SubnetId === subnet)
      ?.RouteTableAssociationId;
  await direct.sdk.send(new DisassociateRouteTableCommand({ AssociationId: idOf(lost.subnet) }));
  const inPlace = seed.vpcs[0]?.routeTables[0] as string;
  await direct.sdk.send(
    new ReplaceRouteTableAssociationCommand({
      AssociationId: idOf(strayed.subnet),
      RouteTableId: inPlace,
    }),
  );

  via.calls.reset();
  const view = await describeManagedTables(via, fleet, [lost, strayed]);
  t.same(
    view.routes.map((r) => r.target),
    [{ kind: "missing" }, { kind: "other", target: inPlace }],
  );
  t.equal(
    via.calls.count("DescribeRouteTables"),
    2,
    "one more read for subnets off the fleet's tables",
  );

  const eniB = eniOf(seed, "east-b");
  via.calls.reset();
  const outcomes = await writeRoutes(via, [lost, strayed], eniB, { precheck: true });
  t.same(
    actions(outcomes),
    [`${lost.routeTable} created`, `${strayed.routeTable} replaced`].sort(),
  );
  t.same(via.calls.snapshot(), {
    // The group's tables, then the VPC's tables for the two subnets on neither.
    DescribeRouteTables: { ok: 2 },
    AssociateRouteTable: { ok: 1 },
    ReplaceRouteTableAssociation: { ok: 1 },
  });
  const on = associated(await rawTables(direct, fleet));
  for (const u of [lost, strayed])
    t.equal(on.get(u.subnet), u.members.find((m) => m.eni === eniB)?.table);
});

t.test(
  "AssociateRouteTable refused as already associated: read again, one more step",
  async (t) => {
    const { seed, fleet, side, direct, via } = await world(t);
    const [unit] = units(side.routes);
    if (!unit) throw new Error("no association");
    const id = (await rawTables(direct, fleet))
      .flatMap((tb) => tb.Associations ?? [])
      .find((a) => a.SubnetId === unit.subnet)?.RouteTableAssociationId;
    await direct.sdk.send(new DisassociateRouteTableCommand({ AssociationId: id }));
    // moto answers a second AssociateRouteTable with the existing association instead of
    // Resource.AlreadyAssociated, so EC2's answer is injected; the subnet is then re-read.
    proxy.inject("AssociateRouteTable", {
      kind: "error",
      status: 400,
      code: "Resource.AlreadyAssociated",
    });
    const eniB = eniOf(seed, "east-b");
    const outcomes = await writeRoutes(via, [unit], eniB, { precheck: false });
    t.same(actions(outcomes), [`${unit.routeTable} created`]);
    t.same(via.calls.snapshot(), {
      // Group tables and VPC tables, before the first step and again after the refusal.
      DescribeRouteTables: { ok: 4 },
      AssociateRouteTable: { "client-error": 1, ok: 1 },
    });
    t.equal(
      associated(await rawTables(direct, fleet)).get(unit.subnet),
      unit.members.find((m) => m.eni === eniB)?.table,
    );
  },
);

t.test("an ENI that is no member is refused before any call", async (t) => {
  const { side, via } = await world(t);
  await t.rejects(
    writeRoutes(via, side.routes, "eni-0000000000000dead", { precheck: false }),
    /no member of east-pair/,
  );
  t.equal(via.calls.count(), 0);
});

t.test("prepareSwapTables writes each member's routes into its table, then nothing", async (t) => {
  const spec: SeedSpec = {
    ...SPEC,
    vpcs: [
      { name: "east", cidrs: ["10.1.0.0/16"], tables: 0, swap: { groups: 2, prepared: false } },
      SPEC.vpcs[1] as SeedSpec["vpcs"][number],
    ],
  };
  const { seed, fleet, direct, via } = await world(t, spec);
  const before = await rawTables(direct, fleet);
  const prepared = preparedRoutes(fleet);
  t.equal(prepared.length, 2 * 2 * 2, "two groups, two members, two west CIDRs");

  const created = await prepareSwapTables(via, fleet);
  t.same(
    created.map((o) => o.action),
    prepared.map(() => "created"),
  );
  const tables = await rawTables(direct, fleet);
  for (const { route, eni } of prepared) {
    const found = tables
      .find((tb) => tb.RouteTableId === route.routeTable)
      ?.Routes?.find((r) => r.DestinationCidrBlock === route.destination);
    t.equal(found?.NetworkInterfaceId, eni, `${route.routeTable} ${route.destination}`);
  }
  // Nothing but the prepared routes was added.
  const count = (tbs: RouteTable[]) => tbs.reduce((n, tb) => n + (tb.Routes?.length ?? 0), 0);
  t.equal(count(tables), count(before) + prepared.length);

  // One route drifts to the other member: prepare puts back that one alone.
  const [drift] = prepared;
  if (!drift) throw new Error("nothing prepared");
  const other = drift.member === "east-a" ? "east-b" : "east-a";
  const spoil = () =>
    direct.sdk.send(
      new ReplaceRouteCommand({
        RouteTableId: drift.route.routeTable,
        DestinationCidrBlock: drift.route.destination,
        NetworkInterfaceId: eniOf(seed, other),
      }),
    );
  await spoil();
  via.calls.reset();
  const healed = await prepareSwapTables(via, fleet);
  t.same(
    healed.filter((o) => o.action !== "skipped").map((o) => o.route),
    [drift.route],
  );
  t.same(
    via.calls.snapshot(),
    { DescribeRouteTables: { ok: 2 }, ReplaceRoute: { ok: 1 } },
    "one read per member",
  );

  // Co-located on the other member: its own tables only, so this drift stays.
  await spoil();
  const own = await prepareSwapTables(via, fleet, { only: other });
  t.ok(own.length > 0 && own.every((o) => o.action === "skipped"), `only ${other}'s tables`);
  t.notOk(own.some((o) => o.route.routeTable === drift.route.routeTable));
});

t.test("validate's facts for swap mode, from EC2", async (t) => {
  const { seed, fleet, direct, via } = await world(t);
  const east = seed.vpcs[0] as Seeded["vpcs"][number];
  const [group] = east.swap;
  if (!group) throw new Error("no group");
  const view = await describeManagedTables(via, fleet, managedRoutes(fleet));
  const instances = await describeInstances(
    via,
    fleet.appliances.map((a) => a.instanceId),
  );
  const subnets = await describeSwapSubnets(via, fleet);
  t.same([...subnets.keys()].sort(), east.swap.flatMap((g) => g.subnets).sort());
  t.ok([...subnets.values()].every((s) => s.vpcId === east.id && s.fleetTagged));
  const clean = checkFleetAgainstEc2(fleet, { ...view, instances, subnets });
  t.same(clean, { errors: [], warnings: [] }, "a seeded swap fleet is consistent");

  // One prepared route drifts: a warning names the table, by its path in the file.
  const table = group.tables["east-b"] as string;
  await direct.sdk.send(
    new ReplaceRouteCommand({
      RouteTableId: table,
      DestinationCidrBlock: "10.2.0.0/16",
      NetworkInterfaceId: eniOf(seed, "east-a"),
    }),
  );
  const drifted = checkFleetAgainstEc2(fleet, {
    ...(await describeManagedTables(via, fleet, [])),
    instances,
    subnets,
  });
  t.same(
    drifted.warnings.map((w) => `${w.path} ${w.rule}`),
    ["vpcs[0].swap[0].tables.east-b swap-unprepared"],
  );
  t.same(drifted.errors, []);
});
