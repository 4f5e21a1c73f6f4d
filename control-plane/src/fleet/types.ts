/**
 * The fleet after load and verify: every reference resolved, defaults applied. The decision
 * engine, the EC2 adapter and the CLI consume only this.
 */

export interface Vpc {
  name: string;
  /** EC2 id, e.g. vpc-0123 */
  id: string;
  /** Canonical CIDR text. */
  cidrs: string[];
  /** Route tables whose routes to other VPCs the fleet manages (EC2 ids). */
  routeTables: string[];
}

export type AgentEndpoint =
  | { kind: "unix"; path: string }
  | { kind: "https"; url: string; tls: { ca: string; cert: string; key: string } };

export interface Appliance {
  name: string;
  /** Name of its VPC (Vpc.name). */
  vpc: string;
  instanceId: string;
  /** The ENI routes point at. */
  eni: string;
  agent: AgentEndpoint;
  /** Availability zone when known from the config; the EC2 check fills it in otherwise. */
  az?: string;
}

export interface Pair {
  name: string;
  /** The VPC both members live in. */
  vpc: string;
  members: [string, string];
  /** Member that takes the routes when both are healthy and nothing else decides. */
  preferred: string;
}

/** Software site-to-site: each VPC's routes to the other point at its pair's active member. */
export interface Connection {
  name: string;
  kind: "site-to-site";
  between: [string, string];
}

export interface FailoverPolicy {
  intervalMs: number;
  /** Consecutive bad ticks before a member is unhealthy. */
  fall: number;
  /** Consecutive good ticks before a member is healthy again. */
  rise: number;
  /** A member that recovered is not eligible until it has been healthy this long. */
  holdDownMs: number;
  /** Move routes back to the preferred member once it is eligible again. */
  preempt: boolean;
}

export interface Fleet {
  region: string;
  /** EC2 endpoint override (moto, VPC endpoints); AWS_ENDPOINT_URL_EC2 also works. */
  endpoint?: string;
  /** Tag carried by every managed route table; the IAM policy is scoped to it. */
  tag: { key: string; value: string };
  vpcs: Vpc[];
  appliances: Appliance[];
  pairs: Pair[];
  connections: Connection[];
  failover: FailoverPolicy;
}

/**
 * One route the fleet manages: in `routeTable`, traffic to `destination` goes to the active
 * member of `pair` for `connection`.
 */
export interface ManagedRoute {
  connection: string;
  pair: string;
  routeTable: string;
  destination: string;
}
