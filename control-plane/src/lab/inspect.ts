import { DescribeRouteTablesCommand } from "@aws-sdk/client-ec2";
import { labEc2 } from "./deploy.ts";
import { inspectContainers } from "./docker.ts";
import { labNodes } from "./faults.ts";
import type { LabState } from "./state.ts";

/**
 * `swanpair lab inspect`: each node's container state and addresses, and per VPC which
 * appliance its route table sends each connected VPC's traffic to, read from EC2.
 */

export interface LabView {
  lab: string;
  controller: string;
  moto: string;
  nodes: Array<{
    name: string;
    role: string;
    container: string;
    state: string;
    addresses: string[];
    vpc?: string;
  }>;
  routes: Array<{ vpc: string; destination: string; target: string; appliance?: string }>;
}

export async function inspectLab(state: LabState): Promise<LabView> {
  const nodes = labNodes(state.plan);
  const containers = await inspectContainers(nodes.map((n) => n.container)).catch(() => []);
  const stateOf = (c: string) => {
    const s = containers.find((x) => x.name === c);
    if (s === undefined) return "missing";
    return s.paused ? "paused" : s.status;
  };
  return {
    lab: state.plan.lab,
    controller: state.plan.controller.mode,
    moto: state.moto.endpoint,
    nodes: nodes.map((n) => ({
      name: n.name,
      role: n.role,
      container: n.container,
      state: stateOf(n.container),
      addresses: n.addresses,
      ...(n.vpc === undefined ? {} : { vpc: n.vpc }),
    })),
    routes: await labRoutes(state),
  };
}

/** Each managed route of each VPC, and the appliance it points at. */
export async function labRoutes(state: LabState): Promise<LabView["routes"]> {
  const { plan, ids } = state;
  const byEni = new Map(Object.entries(ids.appliances).map(([name, x]) => [x.eni, name]));
  const byInstance = new Map(
    Object.entries(ids.appliances).map(([name, x]) => [x.instanceId, name]),
  );
  const vpcOf = new Map(plan.vpcs.map((v) => [ids.vpcs[v.name]?.routeTable, v.name]));
  const tables = [...vpcOf.keys()].filter((t): t is string => t !== undefined);
  const ec2 = labEc2(plan.region, state.moto.endpoint);
  const answer = await ec2
    .send(new DescribeRouteTablesCommand({ RouteTableIds: tables }))
    .finally(() => ec2.destroy());
  const out: LabView["routes"] = [];
  // In the plan's order of VPCs, whatever order EC2 answers in.
  for (const table of tables) {
    const routes = answer.RouteTables?.find((x) => x.RouteTableId === table)?.Routes ?? [];
    for (const r of routes) {
      const target = r.NetworkInterfaceId ?? r.InstanceId;
      if (target === undefined || r.DestinationCidrBlock === undefined) continue;
      const appliance = byEni.get(r.NetworkInterfaceId ?? "") ?? byInstance.get(r.InstanceId ?? "");
      out.push({
        vpc: vpcOf.get(table) ?? "",
        destination: r.DestinationCidrBlock,
        target,
        ...(appliance ? { appliance } : {}),
      });
    }
  }
  return out;
}
