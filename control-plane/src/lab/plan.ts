import type { Fleet } from "../fleet/types.ts";

/**
 * A lab resolved from its topology file (swanpair-lab.yml): every name and address the
 * runtime needs, so that nothing downstream derives an address or a name on its own.
 * Docker names are `swanpair-<lab>-<node>`; networks `swanpair-<lab>-<vpc>` and
 * `swanpair-<lab>-internet`.
 */
export interface LabPlan {
  lab: string;
  /** `swanpair-<lab>`: the prefix of every container, network and state directory. */
  prefix: string;
  region: string;
  internet: LabInternet;
  controller: LabController;
  failover: Fleet["failover"];
  router: { pollMs: number; followDelayMs: number };
  traffic: { ratePps: number; port: number };
  vpcs: LabVpc[];
  /** Site-to-site connections, between the pairs of two VPCs (by VPC name). */
  connections: Array<{ name: string; between: [string, string] }>;
}

/** The network the Elastic IPs live on, as the internet between the VPCs' gateways. */
export interface LabInternet {
  network: string;
  cidr: string;
  /** The Docker bridge's own address: the machine running the lab (moto listens here). */
  hostAddress: string;
}

export interface LabController {
  mode: "central" | "colocated";
  /** central: its container, on the internet and on every VPC's network. */
  node: LabNodeName;
  internetAddress: string;
  /** VPC name to its address on that VPC's network (central mode). */
  vpcAddresses: Record<string, string>;
}

export interface LabNodeName {
  name: string;
  container: string;
}

export interface LabVpc {
  name: string;
  cidr: string;
  /** Its Docker network: the whole VPC CIDR on one segment, as EC2's "local" route. */
  network: string;
  /** The Docker bridge's own address on that network (the machine running the lab). */
  hostAddress: string;
  subnets: LabSubnet[];
  /** The VPC router: follows the VPC's route tables, and is its internet gateway (1:1 NAT). */
  router: LabNodeName & { internetAddress: string };
  pair: { name: string; preferred: string };
  /** Exactly two: the pair's members. */
  appliances: LabAppliance[];
  hosts: LabHost[];
}

export interface LabSubnet {
  name: string;
  cidr: string;
  /** The router's address in this subnet (its first host address, as on EC2). */
  gateway: string;
  /** Its availability zone, such as eu-west-1a: as on EC2, every node in it is in that zone. */
  az: string;
}

export interface LabHost extends LabNodeName {
  subnet: string;
  address: string;
  /** Its subnet's gateway. */
  gateway: string;
}

export interface LabAppliance extends LabHost {
  /** Its Elastic IP, on the internet network, owned by the VPC router (1:1 NAT). */
  public: string;
  /** A second address in its VPC that its path probes leave from. */
  pathSource: string;
  az: string;
}

/** What EC2 (moto) assigned while the lab was seeded. */
export interface LabEc2Ids {
  vpcs: Record<
    string,
    { id: string; routeTable: string; internetGateway: string; subnets: Record<string, string> }
  >;
  appliances: Record<string, { instanceId: string; eni: string }>;
}
