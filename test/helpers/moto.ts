import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { fileURLToPath } from "node:url";
import {
  AssociateRouteTableCommand,
  AssociateVpcCidrBlockCommand,
  AttachInternetGatewayCommand,
  CreateInternetGatewayCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  type EC2Client,
  ModifyInstanceAttributeCommand,
  ModifyNetworkInterfaceAttributeCommand,
  RunInstancesCommand,
} from "@aws-sdk/client-ec2";
import { bigIntToIp, parseCidr } from "../../common/cidr.ts";
import { preparedRoutes } from "../../control-plane/src/fleet/routes.ts";
import type { Fleet, ManagedRoute, SwapGroup } from "../../control-plane/src/fleet/types.ts";
import { useFakeCredentials } from "./aws-env.ts";
import { stopChild } from "./netns.ts";

/**
 * A moto server (a local EC2 API) per test file, and a seeded fleet built in it through the
 * real EC2 API. `.venv/` comes from scripts/bootstrap.sh.
 */

const MOTO_SERVER = fileURLToPath(new URL("../../.venv/bin/moto_server", import.meta.url));

export interface Moto {
  endpoint: string;
  /** Forgets every resource (POST /moto-api/reset). */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts moto on a free loopback port and resolves once it answers HTTP. Stopped in `t`'s
 * teardown; while it runs, the process environment holds fake AWS credentials so that real
 * ones are never used against it.
 */
export async function startMoto(
  t: { teardown(fn: () => unknown): void },
  timeoutMs = 20_000,
): Promise<Moto> {
  if (!existsSync(MOTO_SERVER))
    throw new Error(`${MOTO_SERVER} is missing: run scripts/bootstrap.sh to install moto`);
  useFakeCredentials(t);
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(MOTO_SERVER, ["-H", "127.0.0.1", "-p", String(port)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  const moto: Moto = {
    endpoint,
    async reset() {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: "POST" });
      if (!res.ok) throw new Error(`moto reset answered ${res.status}`);
    },
    async stop() {
      await stopChild(child);
    },
  };
  t.teardown(() => moto.stop());
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`moto_server exited during startup: ${stderr}`);
    try {
      const res = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.ok) return moto;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await moto.stop();
      throw new Error(`moto_server did not answer within ${timeoutMs} ms: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface SeedSpec {
  /** The fleet tag, put on every managed route table. */
  tag: { key: string; value: string };
  /**
   * VPCs. The first CIDR is the primary and holds two /24 subnets, one per AZ; each VPC gets
   * `tables` in-place route tables (default 1; 0 for a swap-only VPC) and `pairs` pairs of
   * appliances (default 1): `<name>-pair` of `<name>-a` and `<name>-b`, then `<name>-pair2` of
   * `<name>-c` and `<name>-d`, and so on. Every pair of a VPC routes through its tables.
   */
  vpcs: Array<{ name: string; cidrs: string[]; tables?: number; swap?: SwapSeed; pairs?: number }>;
  /**
   * Site-to-site connections, each end a VPC name (its first pair) or a pair name: each side's
   * tables route the other's CIDRs. Named `<end>-<end>`.
   */
  connections: Array<[string, string]>;
  /** Managed destinations left out of every table, so that the first write must create them. */
  missing?: string[];
  /** Appliances that keep SourceDestCheck on, as a misconfigured one would. */
  sourceDestCheckOn?: string[];
}

/**
 * Swap groups for a VPC: each gets a tagged table per member with the same two unmanaged
 * routes as the in-place tables, and `subnetsPerGroup` (default 1) tagged /24 subnets of the
 * primary CIDR, associated with member `-a`'s table. Unless `prepared` is false, each member
 * table holds its member's routes to the connected VPCs.
 */
export interface SwapSeed {
  groups: number;
  subnetsPerGroup?: number;
  prepared?: boolean;
}

export interface SeededAppliance {
  name: string;
  vpc: string;
  instanceId: string;
  eni: string;
  az: string;
}

export interface SeededPair {
  name: string;
  appliances: [SeededAppliance, SeededAppliance];
}

export interface SeededVpc {
  name: string;
  id: string;
  cidrs: string[];
  subnets: Array<{ id: string; az: string }>;
  routeTables: string[];
  /** The first pair's members. */
  appliances: [SeededAppliance, SeededAppliance];
  /** Every pair of the VPC, the first (`<name>-pair`, members `appliances`) first. */
  pairs: SeededPair[];
  /** Member tables keyed by appliance name; empty without `swap`. */
  swap: SwapGroup[];
}

export interface Seeded {
  region: string;
  tag: { key: string; value: string };
  vpcs: SeededVpc[];
  connections: Array<[string, string]>;
  /** Every managed in-place route, seeded on member `-a` unless listed in `missing`. */
  managedRoutes: ManagedRoute[];
  /**
   * Routes in the managed tables (swap member tables too) that the fleet does not manage;
   * writes must leave them be.
   */
  unmanagedRoutes: Array<{ routeTable: string; destination: string }>;
}

/** Runs `fn` over `items`, `width` at a time: seeding hundreds of tables one by one is slow. */
async function inBatches<T>(items: T[], width: number, fn: (item: T) => Promise<unknown>) {
  for (let i = 0; i < items.length; i += width)
    await Promise.all(items.slice(i, i + width).map(fn));
}

/** Unmanaged, yet pointing at an appliance: the route a careless writer would clobber. */
export const UNMANAGED_APPLIANCE_DESTINATION = "192.168.255.0/24";

/** The name of pair `n` (0-based) of a VPC. */
const pairName = (vpc: string, n = 0) => (n === 0 ? `${vpc}-pair` : `${vpc}-pair${n + 1}`);
const MEMBER_LETTERS = "abcdefghijklmnop";
const connectionName = ([a, b]: [string, string]) => `${a}-${b}`;

/** The n-th /24 inside `cidr`. */
function subnetCidr(cidr: string, n: number): string {
  const parsed = parseCidr(cidr);
  if (!parsed.ok || parsed.cidr.family !== 4 || parsed.cidr.prefix > 23)
    throw new Error(`seed: ${cidr} must be an IPv4 block of /23 or larger`);
  return `${bigIntToIp(parsed.cidr.network + BigInt(n) * 256n, 4)}/24`;
}

async function seedVpc(
  ec2: EC2Client,
  region: string,
  spec: SeedSpec,
  vpcSpec: SeedSpec["vpcs"][number],
): Promise<SeededVpc> {
  const [primary, ...extra] = vpcSpec.cidrs;
  if (!primary) throw new Error(`seed: VPC ${vpcSpec.name} has no CIDR`);
  const vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: primary }))).Vpc?.VpcId ?? "";
  for (const CidrBlock of extra)
    await ec2.send(new AssociateVpcCidrBlockCommand({ VpcId: vpcId, CidrBlock }));
  const igw =
    (await ec2.send(new CreateInternetGatewayCommand({}))).InternetGateway?.InternetGatewayId ?? "";
  await ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpcId }));

  const subnets: SeededVpc["subnets"] = [];
  for (const [n, az] of [`${region}a`, `${region}b`].entries()) {
    const subnet = await ec2.send(
      new CreateSubnetCommand({
        VpcId: vpcId,
        CidrBlock: subnetCidr(primary, n),
        AvailabilityZone: az,
      }),
    );
    subnets.push({ id: subnet.Subnet?.SubnetId ?? "", az });
  }

  const pairCount = vpcSpec.pairs ?? 1;
  if (pairCount < 1 || pairCount * 2 > MEMBER_LETTERS.length)
    throw new Error(`seed: VPC ${vpcSpec.name}: pairs must be 1 to ${MEMBER_LETTERS.length / 2}`);
  if (pairCount > 1 && vpcSpec.swap)
    throw new Error(`seed: VPC ${vpcSpec.name}: swap groups need a single pair`);
  const appliances: SeededAppliance[] = [];
  for (const [n, member] of [...MEMBER_LETTERS.slice(0, pairCount * 2)].entries()) {
    const name = `${vpcSpec.name}-${member}`;
    const subnet = subnets[n % 2] as SeededVpc["subnets"][number];
    const run = await ec2.send(
      new RunInstancesCommand({
        ImageId: "ami-12345678",
        MinCount: 1,
        MaxCount: 1,
        SubnetId: subnet.id,
      }),
    );
    const instance = run.Instances?.[0];
    const instanceId = instance?.InstanceId ?? "";
    const eni = instance?.NetworkInterfaces?.[0]?.NetworkInterfaceId ?? "";
    if (!spec.sourceDestCheckOn?.includes(name)) {
      // EC2 keeps the two views of the primary ENI's flag in step; moto does not, so set both.
      await ec2.send(
        new ModifyNetworkInterfaceAttributeCommand({
          NetworkInterfaceId: eni,
          SourceDestCheck: { Value: false },
        }),
      );
      await ec2.send(
        new ModifyInstanceAttributeCommand({
          InstanceId: instanceId,
          SourceDestCheck: { Value: false },
        }),
      );
    }
    appliances.push({ name, vpc: vpcSpec.name, instanceId, eni, az: subnet.az });
  }

  const fleetTag = [{ Key: spec.tag.key, Value: spec.tag.value }];
  const newTable = async () =>
    (
      await ec2.send(
        new CreateRouteTableCommand({
          VpcId: vpcId,
          TagSpecifications: [{ ResourceType: "route-table", Tags: fleetTag }],
        }),
      )
    ).RouteTable?.RouteTableId ?? "";
  const routeTables: string[] = [];
  for (let n = 0; n < (vpcSpec.tables ?? 1); n++) routeTables.push(await newTable());
  // Each subnet uses one of the managed tables (round robin), as real workloads' subnets would.
  if (routeTables.length > 0)
    for (const [n, subnet] of subnets.entries())
      await ec2.send(
        new AssociateRouteTableCommand({
          RouteTableId: routeTables[n % routeTables.length],
          SubnetId: subnet.id,
        }),
      );

  const swap: SwapGroup[] = [];
  const perGroup = vpcSpec.swap?.subnetsPerGroup ?? 1;
  for (let g = 0; g < (vpcSpec.swap?.groups ?? 0); g++) {
    const [a, b] = appliances as [SeededAppliance, SeededAppliance];
    const tables = { [a.name]: await newTable(), [b.name]: await newTable() };
    const groupSubnets: string[] = [];
    for (let k = 0; k < perGroup; k++) {
      // After the appliances' two subnets; the fleet tag lets the controller move them.
      const subnet = await ec2.send(
        new CreateSubnetCommand({
          VpcId: vpcId,
          CidrBlock: subnetCidr(primary, 2 + g * perGroup + k),
          AvailabilityZone: `${region}a`,
          TagSpecifications: [{ ResourceType: "subnet", Tags: fleetTag }],
        }),
      );
      const SubnetId = subnet.Subnet?.SubnetId ?? "";
      await ec2.send(new AssociateRouteTableCommand({ RouteTableId: tables[a.name], SubnetId }));
      groupSubnets.push(SubnetId);
    }
    swap.push({ subnets: groupSubnets, tables });
  }

  const unmanagedIn = [...routeTables, ...swap.flatMap((g) => Object.values(g.tables))];
  await inBatches(unmanagedIn, 16, async (RouteTableId) => {
    await ec2.send(
      new CreateRouteCommand({ RouteTableId, DestinationCidrBlock: "0.0.0.0/0", GatewayId: igw }),
    );
    await ec2.send(
      new CreateRouteCommand({
        RouteTableId,
        DestinationCidrBlock: UNMANAGED_APPLIANCE_DESTINATION,
        NetworkInterfaceId: appliances[0]?.eni,
      }),
    );
  });
  const pairs: SeededPair[] = Array.from({ length: pairCount }, (_, n) => ({
    name: pairName(vpcSpec.name, n),
    appliances: appliances.slice(n * 2, n * 2 + 2) as [SeededAppliance, SeededAppliance],
  }));
  return {
    name: vpcSpec.name,
    id: vpcId,
    cidrs: vpcSpec.cidrs,
    subnets,
    routeTables,
    appliances: pairs[0]?.appliances as [SeededAppliance, SeededAppliance],
    pairs,
    swap,
  };
}

/** A connection end (VPC name: its first pair; or a pair name) and the VPC it is in. */
function resolveEnd(vpcs: SeededVpc[], end: string): { vpc: SeededVpc; pair: SeededPair } {
  for (const vpc of vpcs) {
    if (vpc.name === end) return { vpc, pair: vpc.pairs[0] as SeededPair };
    const pair = vpc.pairs.find((p) => p.name === end);
    if (pair) return { vpc, pair };
  }
  throw new Error(`seed: connection names unknown VPC or pair ${end}`);
}

/**
 * Builds VPCs, subnets in two AZs, tagged route tables, appliance instances with their ENIs,
 * the managed routes (on member `-a`) and two unmanaged routes per table, all through the
 * EC2 API of `ec2` (a client of moto, not of a fault proxy).
 */
export async function seedFleet(ec2: EC2Client, spec: SeedSpec): Promise<Seeded> {
  const region = await ec2.config.region();
  const vpcs = await Promise.all(spec.vpcs.map((v) => seedVpc(ec2, region, spec, v)));
  const byName = new Map(vpcs.map((v) => [v.name, v]));
  const vpc = (name: string) => {
    const found = byName.get(name);
    if (!found) throw new Error(`seed: unknown VPC ${name}`);
    return found;
  };

  const managedRoutes: ManagedRoute[] = [];
  for (const connection of spec.connections) {
    for (const [local, remote] of [connection, [connection[1], connection[0]]] as const) {
      const here = resolveEnd(vpcs, local);
      for (const routeTable of here.vpc.routeTables)
        for (const destination of resolveEnd(vpcs, remote).vpc.cidrs)
          managedRoutes.push({
            connection: connectionName(connection),
            pair: here.pair.name,
            routeTable,
            destination,
          });
    }
  }
  const eniOfPair = new Map(
    vpcs.flatMap((v) => v.pairs.map((p) => [p.name, p.appliances[0].eni] as const)),
  );
  const create = (RouteTableId: string, DestinationCidrBlock: string, eni: string | undefined) =>
    ec2.send(
      new CreateRouteCommand({ RouteTableId, DestinationCidrBlock, NetworkInterfaceId: eni }),
    );
  await inBatches(
    managedRoutes.filter((r) => !spec.missing?.includes(r.destination)),
    16,
    (r) => create(r.routeTable, r.destination, eniOfPair.get(r.pair)),
  );
  const seeded: Seeded = {
    region,
    tag: spec.tag,
    vpcs,
    connections: spec.connections,
    managedRoutes,
    unmanagedRoutes: vpcs.flatMap((v) =>
      [...v.routeTables, ...v.swap.flatMap((g) => Object.values(g.tables))].flatMap((routeTable) =>
        ["0.0.0.0/0", UNMANAGED_APPLIANCE_DESTINATION].map((destination) => ({
          routeTable,
          destination,
        })),
      ),
    ),
  };
  // Member tables hold their own member's routes: the fleet module says which, as for the controller.
  const unprepared = new Set(
    spec.vpcs
      .filter((v) => v.swap?.prepared === false)
      .flatMap((v) => vpc(v.name).swap.flatMap((g) => Object.values(g.tables))),
  );
  await inBatches(
    preparedRoutes(seededFleet(seeded, "")).filter((p) => !unprepared.has(p.route.routeTable)),
    16,
    (p) => create(p.route.routeTable, p.route.destination, p.eni),
  );
  return seeded;
}

/** The Fleet a config for the seeded world would load to; agents are unreachable placeholders. */
export function seededFleet(seed: Seeded, endpoint: string): Fleet {
  return {
    region: seed.region,
    endpoint,
    tag: seed.tag,
    vpcs: seed.vpcs.map((v) => ({
      name: v.name,
      id: v.id,
      cidrs: v.cidrs,
      routeTables: v.routeTables,
      ...(v.swap.length > 0 && { swap: v.swap }),
    })),
    appliances: seed.vpcs.flatMap((v) =>
      v.pairs
        .flatMap((p) => p.appliances)
        .map((a) => ({
          name: a.name,
          vpc: a.vpc,
          instanceId: a.instanceId,
          eni: a.eni,
          az: a.az,
          agent: { kind: "unix" as const, path: `/run/swanpair/${a.name}/agent.sock` },
        })),
    ),
    pairs: seed.vpcs.flatMap((v) =>
      v.pairs.map((p) => ({
        name: p.name,
        vpc: v.name,
        members: [p.appliances[0].name, p.appliances[1].name] as [string, string],
        preferred: p.appliances[0].name,
      })),
    ),
    connections: seed.connections.map((ends) => ({
      name: connectionName(ends),
      kind: "site-to-site" as const,
      between: ends.map((end) => resolveEnd(seed.vpcs, end).pair.name) as [string, string],
    })),
    failover: { intervalMs: 1000, fall: 3, rise: 2, holdDownMs: 10_000, preempt: false },
  };
}
