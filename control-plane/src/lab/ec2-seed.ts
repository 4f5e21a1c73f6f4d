import {
  AllocateAddressCommand,
  AssignPrivateIpAddressesCommand,
  AssociateAddressCommand,
  AssociateRouteTableCommand,
  AttachInternetGatewayCommand,
  CreateInternetGatewayCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeVpcsCommand,
  type EC2Client,
  ModifyInstanceAttributeCommand,
  ModifyNetworkInterfaceAttributeCommand,
  RunInstancesCommand,
  type Tag,
  type TagSpecification,
} from "@aws-sdk/client-ec2";
import { SwpError } from "../../../common/errors.ts";
import type { LabAppliance, LabEc2Ids, LabHost, LabPlan, LabVpc } from "./plan.ts";
import { labRoutes } from "./routes.ts";
import { FLEET_TAG_KEY, LAB_TAG_KEY } from "./topology/names.ts";

/**
 * `lab deploy`'s EC2 half: the VPCs, subnets, gateways, the one route table per VPC, and an
 * instance per appliance and host, made through the EC2 API (moto) from the plan, as an
 * operator would have them before the controller first runs. Seeded once into a fresh moto:
 * not idempotent, but it refuses a moto that already holds the lab, and every failed call
 * names the step it was for.
 */

/** Any id does in moto; no AMI is ever booted. */
const IMAGE_ID = "ami-12345678";
const INSTANCE_TYPE = "t3.micro";

export async function seedLabEc2(ec2: EC2Client, plan: LabPlan): Promise<LabEc2Ids> {
  const region = await ec2.config.region();
  if (region !== plan.region) {
    throw new SwpError(
      "SWP_ERR_FAILED",
      `lab ${plan.lab} is in ${plan.region}, but the EC2 client is for ${region}`,
    );
  }
  await refuseSeeded(ec2, plan);
  const ids: LabEc2Ids = { vpcs: {}, appliances: {} };
  for (const vpc of plan.vpcs) await seedVpc(ec2, plan, vpc, ids);
  return ids;
}

async function refuseSeeded(ec2: EC2Client, plan: LabPlan): Promise<void> {
  const found = await step("DescribeVpcs (is the lab there already?)", () =>
    ec2.send(
      new DescribeVpcsCommand({ Filters: [{ Name: `tag:${LAB_TAG_KEY}`, Values: [plan.lab] }] }),
    ),
  );
  const vpcs = (found.Vpcs ?? []).map((v) => v.VpcId);
  if (vpcs.length > 0) {
    throw new SwpError(
      "SWP_ERR_FAILED",
      `EC2 already holds lab ${plan.lab} (${vpcs.join(", ")}); a lab is seeded once, into a fresh moto`,
    );
  }
}

async function seedVpc(ec2: EC2Client, plan: LabPlan, vpc: LabVpc, ids: LabEc2Ids) {
  const tags = (type: TagSpecification["ResourceType"], name: string, extra: Tag[] = []) => [
    {
      ResourceType: type,
      Tags: [{ Key: "Name", Value: name }, { Key: LAB_TAG_KEY, Value: plan.lab }, ...extra],
    },
  ];
  const at = `VPC ${vpc.name}`;
  const vpcId = await made(
    `CreateVpc ${at} (${vpc.cidr})`,
    () =>
      ec2.send(
        new CreateVpcCommand({ CidrBlock: vpc.cidr, TagSpecifications: tags("vpc", vpc.network) }),
      ),
    (r) => r.Vpc?.VpcId,
  );
  const subnets: Record<string, string> = {};
  for (const s of vpc.subnets) {
    subnets[s.name] = await made(
      `CreateSubnet ${s.name} of ${at} (${s.cidr} in ${s.az})`,
      () =>
        ec2.send(
          new CreateSubnetCommand({
            VpcId: vpcId,
            CidrBlock: s.cidr,
            AvailabilityZone: s.az,
            TagSpecifications: tags("subnet", `${vpc.network}-${s.name}`),
          }),
        ),
      (r) => r.Subnet?.SubnetId,
    );
  }
  const igw = await made(
    `CreateInternetGateway for ${at}`,
    () =>
      ec2.send(
        new CreateInternetGatewayCommand({
          TagSpecifications: tags("internet-gateway", vpc.network),
        }),
      ),
    (r) => r.InternetGateway?.InternetGatewayId,
  );
  await step(`AttachInternetGateway ${igw} to ${at}`, () =>
    ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpcId })),
  );

  const subnetId = (name: string) => need(subnets[name], `subnet ${name} of ${at}`);
  for (const a of vpc.appliances) {
    ids.appliances[a.name] = await seedAppliance(ec2, a, subnetId(a.subnet), tags);
  }
  for (const h of vpc.hosts)
    await runInstance(ec2, h, subnetId(h.subnet), tags("instance", h.container));

  const routeTable = await made(
    `CreateRouteTable for ${at}`,
    () =>
      ec2.send(
        new CreateRouteTableCommand({
          VpcId: vpcId,
          TagSpecifications: tags("route-table", vpc.network, [
            { Key: FLEET_TAG_KEY, Value: plan.lab },
          ]),
        }),
      ),
    (r) => r.RouteTable?.RouteTableId,
  );
  for (const [name, id] of Object.entries(subnets)) {
    await step(`AssociateRouteTable ${routeTable} with subnet ${name} of ${at}`, () =>
      ec2.send(new AssociateRouteTableCommand({ RouteTableId: routeTable, SubnetId: id })),
    );
  }
  for (const r of labRoutes(plan, vpc)) {
    const target =
      r.target === "internet-gateway"
        ? { GatewayId: igw }
        : { NetworkInterfaceId: need(ids.appliances[r.appliance.name], r.appliance.name).eni };
    await step(`CreateRoute ${r.destination} in ${routeTable} of ${at}`, () =>
      ec2.send(
        new CreateRouteCommand({
          RouteTableId: routeTable,
          DestinationCidrBlock: r.destination,
          ...target,
        }),
      ),
    );
  }
  ids.vpcs[vpc.name] = { id: vpcId, routeTable, internetGateway: igw, subnets };
}

type Tags = (type: TagSpecification["ResourceType"], name: string) => TagSpecification[];

async function runInstance(
  ec2: EC2Client,
  node: LabHost,
  subnet: string,
  tags: TagSpecification[],
) {
  const run = await step(`RunInstances ${node.name} (${node.address})`, () =>
    ec2.send(
      new RunInstancesCommand({
        ImageId: IMAGE_ID,
        InstanceType: INSTANCE_TYPE,
        MinCount: 1,
        MaxCount: 1,
        SubnetId: subnet,
        PrivateIpAddress: node.address,
        TagSpecifications: tags,
      }),
    ),
  );
  const instance = run.Instances?.[0];
  return {
    instanceId: need(instance?.InstanceId, `the instance of ${node.name}`),
    eni: need(instance?.NetworkInterfaces?.[0]?.NetworkInterfaceId, `the ENI of ${node.name}`),
  };
}

/**
 * An appliance as Appendix A has it: its path source as a second private address, its Elastic
 * IP, and SourceDestCheck off, since it forwards the VPC's traffic.
 */
async function seedAppliance(ec2: EC2Client, a: LabAppliance, subnet: string, tags: Tags) {
  const { instanceId, eni } = await runInstance(ec2, a, subnet, tags("instance", a.container));
  await step(`AssignPrivateIpAddresses ${a.pathSource} to ${a.name}`, () =>
    ec2.send(
      new AssignPrivateIpAddressesCommand({
        NetworkInterfaceId: eni,
        PrivateIpAddresses: [a.pathSource],
      }),
    ),
  );
  // EC2 keeps the two views of the primary ENI's flag in step; moto does not, so set both.
  await step(`ModifyNetworkInterfaceAttribute SourceDestCheck of ${a.name}`, () =>
    ec2.send(
      new ModifyNetworkInterfaceAttributeCommand({
        NetworkInterfaceId: eni,
        SourceDestCheck: { Value: false },
      }),
    ),
  );
  await step(`ModifyInstanceAttribute SourceDestCheck of ${a.name}`, () =>
    ec2.send(
      new ModifyInstanceAttributeCommand({
        InstanceId: instanceId,
        SourceDestCheck: { Value: false },
      }),
    ),
  );
  // moto takes the address asked for, as EC2 does from a BYOIP pool.
  const eip = await step(`AllocateAddress ${a.public} for ${a.name}`, () =>
    ec2.send(
      new AllocateAddressCommand({
        Domain: "vpc",
        Address: a.public,
        TagSpecifications: tags("elastic-ip", a.container),
      }),
    ),
  );
  await step(`AssociateAddress ${a.public} with ${a.name}`, () =>
    ec2.send(
      new AssociateAddressCommand({
        AllocationId: need(eip.AllocationId, `the allocation of ${a.public}`),
        NetworkInterfaceId: eni,
        PrivateIpAddress: a.address,
      }),
    ),
  );
  return { instanceId, eni };
}

/** A call that makes a resource, and the id it answered with. */
async function made<T>(what: string, call: () => Promise<T>, id: (r: T) => string | undefined) {
  return need(id(await step(what, call)), `an id (${what})`);
}

/** One EC2 call of the seed; a failure says which, and what EC2 answered. */
async function step<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const answer = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new SwpError(
      "SWP_ERR_EC2_CALL",
      `seeding the lab in EC2: ${what}: ${answer}`,
      { what },
      {
        cause: error,
      },
    );
  }
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined || value === "") {
    throw new SwpError("SWP_ERR_EC2_CALL", `seeding the lab in EC2: EC2 answered without ${what}`);
  }
  return value;
}
