import {
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeRouteTablesCommand,
  DescribeSubnetsCommand,
  EC2Client,
  type Instance,
} from "@aws-sdk/client-ec2";
import t, { type Test } from "tap";
import { stringify } from "yaml";
import { SwpError } from "../../common/errors.ts";
import { formatLoadResult } from "../../common/yaml-config.ts";
import { checkFleetAgainstEc2 } from "../../control-plane/src/checks/fleet-vs-ec2.ts";
import { withEc2 } from "../../control-plane/src/commands/shared.ts";
import { describeInstances } from "../../control-plane/src/ec2/instances.ts";
import { describeManagedTables } from "../../control-plane/src/ec2/managed-tables.ts";
import { loadFleetText } from "../../control-plane/src/fleet/load.ts";
import { managedRoutes } from "../../control-plane/src/fleet/routes.ts";
import { seedLabEc2 } from "../../control-plane/src/lab/ec2-seed.ts";
import { labFleet } from "../../control-plane/src/lab/fleet-file.ts";
import type { LabEc2Ids, LabPlan } from "../../control-plane/src/lab/plan.ts";
import { LAB_FILES, labPlan, labTlsReader } from "../fixtures/labs.ts";
import { startMoto } from "../helpers/moto.ts";

/**
 * The lab's EC2 seed against a real moto server: every route where an operator would have it
 * before the controller runs, every instance at its planned address, zone and Elastic IP; the
 * lab's fleet file passes the EC2-backed validate; a second seed and a bad plan fail clearly.
 */

const moto = await startMoto(t);

function client(t: Test, region: string): EC2Client {
  const ec2 = new EC2Client({ region, endpoint: moto.endpoint });
  t.teardown(() => ec2.destroy());
  return ec2;
}

async function seed(t: Test, plan: LabPlan): Promise<{ ec2: EC2Client; ids: LabEc2Ids }> {
  await moto.reset();
  const ec2 = client(t, plan.region);
  return { ec2, ids: await seedLabEc2(ec2, plan) };
}

const nameOf = (i: Instance) => i.Tags?.find((tag) => tag.Key === "Name")?.Value;

/** The far blocks each VPC routes to its preferred appliance, from the plan's connections. */
function expectedRoutes(plan: LabPlan, vpc: string): Record<string, string> {
  const own = plan.vpcs.find((v) => v.name === vpc);
  const out: Record<string, string> = { "0.0.0.0/0": "igw" };
  for (const c of plan.connections) {
    if (!c.between.includes(vpc)) continue;
    const far = plan.vpcs.find((v) => v.name !== vpc && c.between.includes(v.name));
    if (far && own) out[far.cidr] = own.pair.preferred;
  }
  return out;
}

for (const lab of ["default", "hub"] as const) {
  t.test(`${lab} lab: every route, instance and subnet as planned`, async (t) => {
    const plan = await labPlan(lab);
    const { ec2, ids } = await seed(t, plan);
    const instances = (await ec2.send(new DescribeInstancesCommand({}))).Reservations?.flatMap(
      (r) => r.Instances ?? [],
    );
    const byName = new Map((instances ?? []).map((i) => [nameOf(i), i]));
    const applianceOfEni = new Map(
      Object.entries(ids.appliances).map(([name, a]) => [a.eni, name]),
    );

    const tables = await ec2.send(
      new DescribeRouteTablesCommand({
        Filters: [{ Name: "tag:swanpair:fleet", Values: [plan.lab] }],
      }),
    );
    t.equal(tables.RouteTables?.length, plan.vpcs.length, "one fleet-tagged table per VPC");
    for (const v of plan.vpcs) {
      const seeded = ids.vpcs[v.name];
      const table = tables.RouteTables?.find((r) => r.RouteTableId === seeded?.routeTable);
      t.equal(table?.VpcId, seeded?.id, `${v.name}: its table is in its VPC`);
      t.same(
        (table?.Associations ?? []).map((a) => a.SubnetId).sort(),
        Object.values(seeded?.subnets ?? {}).sort(),
        `${v.name}: the table is associated with every subnet`,
      );
      const routes = Object.fromEntries(
        (table?.Routes ?? [])
          .filter((r) => r.GatewayId !== "local")
          .map((r) => [
            r.DestinationCidrBlock,
            r.GatewayId === seeded?.internetGateway
              ? "igw"
              : applianceOfEni.get(r.NetworkInterfaceId ?? ""),
          ]),
      );
      t.same(routes, expectedRoutes(plan, v.name), `${v.name}: routes point where planned`);

      const subnets = await ec2.send(
        new DescribeSubnetsCommand({ SubnetIds: Object.values(seeded?.subnets ?? {}) }),
      );
      for (const s of v.subnets) {
        const found = subnets.Subnets?.find((x) => x.SubnetId === seeded?.subnets[s.name]);
        t.same([found?.CidrBlock, found?.AvailabilityZone], [s.cidr, s.az], `subnet ${s.name}`);
      }

      for (const node of [...v.appliances, ...v.hosts]) {
        const i = byName.get(node.container);
        t.equal(i?.PrivateIpAddress, node.address, `${node.name} at its address`);
        t.equal(i?.SubnetId, seeded?.subnets[node.subnet], `${node.name} in its subnet`);
      }
      for (const a of v.appliances) {
        const i = byName.get(a.container);
        const eni = i?.NetworkInterfaces?.[0];
        t.equal(i?.InstanceId, ids.appliances[a.name]?.instanceId, `${a.name}: its id`);
        t.equal(eni?.NetworkInterfaceId, ids.appliances[a.name]?.eni, `${a.name}: its ENI`);
        t.equal(i?.Placement?.AvailabilityZone, a.az, `${a.name} in ${a.az}`);
        t.same(
          (eni?.PrivateIpAddresses ?? []).map((p) => p.PrivateIpAddress).sort(),
          [a.address, a.pathSource].sort(),
          `${a.name}: its path source is a secondary address`,
        );
        t.equal(eni?.SourceDestCheck, false, `${a.name}: SourceDestCheck off`);
      }
    }
    const eips = await ec2.send(new DescribeAddressesCommand({}));
    const appliances = plan.vpcs.flatMap((v) => v.appliances);
    t.same(
      (eips.Addresses ?? [])
        .map((e) => [e.PublicIp, e.NetworkInterfaceId, e.PrivateIpAddress])
        .sort(),
      appliances.map((a) => [a.public, ids.appliances[a.name]?.eni, a.address]).sort(),
      "each appliance's Elastic IP is the planned one, on its ENI",
    );
  });
}

t.test("the lab's fleet file passes the EC2-backed validate", async (t) => {
  for (const lab of Object.keys(LAB_FILES) as Array<keyof typeof LAB_FILES>) {
    const plan = await labPlan(lab);
    const { ids } = await seed(t, plan);
    const tree = labFleet(plan, ids, {
      ec2Endpoint: moto.endpoint,
      ssmEndpoint: moto.endpoint,
      tlsDir: "/etc/swanpair/tls",
      stateDir: "/var/lib/swanpair",
    });
    const loaded = await loadFleetText(stringify(tree), labTlsReader);
    t.same(formatLoadResult("fleet.yaml", loaded), [], `${lab}: the fleet file loads clean`);
    if (!loaded.ok) continue;
    const { fleet } = loaded;
    const routes = managedRoutes(fleet);
    const [view, instances] = await withEc2(fleet, (ec2) =>
      Promise.all([
        describeManagedTables(ec2, fleet, routes),
        describeInstances(
          ec2,
          fleet.appliances.map((a) => a.instanceId),
        ),
      ]),
    );
    const found = checkFleetAgainstEc2(fleet, { ...view, instances });
    t.same([found.errors, found.warnings], [[], []], `${lab}: EC2 agrees with the fleet file`);
    const preferredEni = new Map(
      fleet.pairs.map((p) => [p.name, fleet.appliances.find((a) => a.name === p.preferred)?.eni]),
    );
    t.ok(routes.length > 0, `${lab}: ${routes.length} managed routes`);
    for (const r of view.routes) {
      t.same(
        r.target,
        { kind: "eni", eni: preferredEni.get(r.pair), blackhole: false },
        `${lab}: ${r.routeTable} ${r.destination} points at ${r.pair}'s preferred member`,
      );
    }
  }
});

t.test("a seed fails clearly: twice, for another region, at a bad address", async (t) => {
  const plan = await labPlan("default");
  const { ec2 } = await seed(t, plan);
  const again = await seedLabEc2(ec2, plan).catch((e: unknown) => e);
  t.ok(again instanceof SwpError, "a second seed is refused");
  t.match((again as Error).message, /EC2 already holds lab demo \(vpc-[0-9a-f]+, vpc-[0-9a-f]+\)/);

  const elsewhere = await seedLabEc2(client(t, "us-west-2"), plan).catch((e: unknown) => e);
  t.match(
    (elsewhere as Error).message,
    "lab demo is in eu-west-1, but the EC2 client is for us-west-2",
  );

  await moto.reset();
  const bad = structuredClone(plan);
  const a1 = bad.vpcs[0]?.appliances[0];
  if (a1) a1.address = "10.9.9.9";
  const failed = await seedLabEc2(ec2, bad).catch((e: unknown) => e);
  t.ok(failed instanceof SwpError && failed.code === "SWP_ERR_EC2_CALL", "an EC2 call error");
  t.match((failed as Error).message, /^seeding the lab in EC2: RunInstances a1 \(10\.9\.9\.9\): /);
});
