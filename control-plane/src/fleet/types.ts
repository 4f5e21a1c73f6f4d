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
  /** Route tables whose routes to other VPCs the fleet manages in place (EC2 ids); may be empty when `swap` is set. */
  routeTables: string[];
  /** Swap mode: subnets moved between tables prepared per member (docs/decisions/0009). Absent when not configured. */
  swap?: SwapGroup[];
}

/**
 * Subnets that fail over by association: each member of the VPC's pair has its own table, whose
 * routes to the connected VPCs point at that member, and the subnets are associated with the
 * active member's table.
 */
export interface SwapGroup {
  subnets: string[];
  /** Member name to its table, in the pair's member order. */
  tables: Record<string, string>;
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
  /** Its addresses, as written; only agent configs rendered from the fleet need them. */
  address?: ApplianceAddress;
}

export interface ApplianceAddress {
  /** In its VPC: charon's IKE address and the inside address its agent answers probes on. */
  private: string;
  /** Its Elastic IP: its IKE identity and the far appliances' remote address; default: private. */
  public?: string;
  /** Another address in its VPC, routed through the VPC, for its path probes. */
  pathSource?: string;
}

/** What every rendered agent config shares (the file's `agents`, defaults applied). */
export interface AgentDefaults {
  datapath: "kernel" | "libipsec";
  /** May hold {appliance}, as may every path here. */
  stateDir: string;
  /** `vici`: charon's VICI socket when not <stateDir>/charon.vici (the packaged units). */
  charon: { mode: "child" | "external"; vici?: string };
  /** `socket` is for https agents; a unix agent's socket is its URL's path. */
  api: { socket: string; tls?: { ca: string; cert: string; key: string } };
  crypto: { preset: "modern" | "aws-compatible" };
  /** `pskDir` (may hold {appliance}): where import-vpn wrote the aws-vpn keys on the appliance. */
  awsVpn: { pskDir: string };
  /** Timers of every rendered tunnel probe and path; unset ones are the agent's defaults. */
  probe?: { intervalMs?: number; fall?: number; rise?: number };
}

/** Where the tunnels' keys live; `prefix` defaults to /swanpair/<tag.value>. */
export interface KeyStore {
  ssm: { prefix?: string; endpoint?: string };
}

export interface Pair {
  name: string;
  /** The VPC both members live in. */
  vpc: string;
  members: [string, string];
  /** Member that takes the routes when both are healthy and nothing else decides. */
  preferred: string;
}

export type Connection = SiteToSite | AwsVpnLink;

/** Software site-to-site: each VPC's routes to the other point at its pair's active member. */
export interface SiteToSite {
  name: string;
  kind: "site-to-site";
  between: [string, string];
}

/**
 * Software VPN to an AWS managed VPN: the pair's VPC routes `remoteCidrs` to its active
 * member; each member is the customer gateway of its own VPN connection, and AWS's side
 * follows whichever connection has its tunnels up.
 */
export interface AwsVpnLink {
  name: string;
  kind: "aws-vpn";
  pair: string;
  /** Canonical CIDR text of the networks behind the VPN gateway. */
  remoteCidrs: string[];
  /** Member name to its VPN connection id, in the pair's member order. */
  vpnConnections: Record<string, string>;
  /** Answers ICMP echo behind AWS: the members' path probes through the active member. */
  pathTarget: string;
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
  /** Leases in DynamoDB for several controllers of one fleet (docs/leases.md); absent: one controller. */
  leases?: LeasePolicy;
  /** Defaults of rendered agent configs, as written; absent: every default (DEFAULT_AGENTS). */
  agents?: AgentDefaults;
  /** Where the tunnels' keys live, as written; absent: SSM under the default prefix. */
  keys?: KeyStore;
}

/** Where the leases live and how long one lasts; see docs/decisions/0013-leases-in-dynamodb.md. */
export interface LeasePolicy {
  /** DynamoDB table, hash key `side` (S). */
  table: string;
  /** Lease duration; renewed every ttlMs/3. At least 3 × failover.intervalMs. */
  ttlMs: number;
  /** DynamoDB endpoint override (moto, VPC endpoints); AWS_ENDPOINT_URL_DYNAMODB also works. */
  endpoint?: string;
}

/**
 * One unit the fleet manages, and the decision engine compares by `routeTable` and
 * `destination` and by the ENI it points at: a route (in place) or a subnet association (swap
 * mode).
 */
export type ManagedRoute = ManagedRouteEntry | ManagedAssociation;

/** In `routeTable`, traffic to `destination` goes to the active member of `pair` for `connection`. */
export interface ManagedRouteEntry {
  /** Absent on routes built before swap mode existed; same as "route". */
  kind?: "route";
  connection: string;
  pair: string;
  routeTable: string;
  destination: string;
}

/**
 * `subnet` is associated with the table of the active member of `pair`. It "points at" the ENI
 * of the member whose table it is associated with. `routeTable` (the subnet id) and
 * `destination` (ASSOCIATION) only make it a unique key among a side's units.
 */
export interface ManagedAssociation {
  kind: "association";
  connection: string;
  pair: string;
  routeTable: string;
  destination: typeof ASSOCIATION;
  subnet: string;
  /** Per member of `pair`: its ENI and its prepared table. */
  members: ReadonlyArray<{ member: string; eni: string; table: string }>;
}

/** The `destination` of every association unit. */
export const ASSOCIATION = "association";
