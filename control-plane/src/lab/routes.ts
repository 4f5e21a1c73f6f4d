import type { LabAppliance, LabPlan, LabVpc } from "./plan.ts";

/**
 * What each VPC's one route table holds when the lab is seeded, as an operator would have set
 * it up before the controller runs: the internet through the VPC's gateway, and each connected
 * VPC's block through the preferred appliance. The seed writes it, the dry run prints it, and
 * the tests compare EC2 with it.
 */

export type LabRoute =
  | { destination: string; target: "internet-gateway" }
  | { destination: string; target: "appliance"; appliance: LabAppliance; connection: string };

export function labRoutes(plan: LabPlan, vpc: LabVpc): LabRoute[] {
  const preferred = preferredOf(vpc);
  const far = plan.connections.flatMap((c) => {
    const [a, b] = c.between;
    const other = a === vpc.name ? b : b === vpc.name ? a : undefined;
    const farVpc = plan.vpcs.find((v) => v.name === other);
    return farVpc === undefined ? [] : [{ connection: c.name, cidr: farVpc.cidr }];
  });
  return [
    { destination: "0.0.0.0/0", target: "internet-gateway" },
    ...far.map(
      (f): LabRoute => ({
        destination: f.cidr,
        target: "appliance",
        appliance: preferred,
        connection: f.connection,
      }),
    ),
  ];
}

export function preferredOf(vpc: LabVpc): LabAppliance {
  const found = vpc.appliances.find((a) => a.name === vpc.pair.preferred);
  if (found === undefined)
    throw new Error(`lab: ${vpc.pair.preferred} is no appliance of ${vpc.name}`);
  return found;
}

/** One IPsec tunnel of a connection's mesh; `carries` when both ends are their pair's preferred. */
export interface LabTunnel {
  connection: string;
  ends: [LabAppliance, LabAppliance];
  carries: boolean;
}

/**
 * The full mesh between the two pairs of each connection, as `swanpair agents render` makes it:
 * four tunnels, of which the one between the preferred members carries the traffic while
 * nothing has failed.
 */
export function labTunnels(plan: LabPlan): LabTunnel[] {
  const vpc = (name: string) => {
    const found = plan.vpcs.find((v) => v.name === name);
    if (found === undefined) throw new Error(`lab: no VPC ${name}`);
    return found;
  };
  return plan.connections.flatMap((c) => {
    const [left, right] = c.between.map(vpc) as [LabVpc, LabVpc];
    return left.appliances.flatMap((l) =>
      right.appliances.map((r) => ({
        connection: c.name,
        ends: [l, r] as [LabAppliance, LabAppliance],
        carries: l.name === left.pair.preferred && r.name === right.pair.preferred,
      })),
    );
  });
}
