import { DescribeRouteTablesCommand, type EC2Client } from "@aws-sdk/client-ec2";
import { fenceKey, parseFence } from "../../control-plane/src/fleet/fence-tags.ts";
import type { FailoverPolicy, Fleet } from "../../control-plane/src/fleet/types.ts";
import { waitFor } from "./agent-lab.ts";
import { FaultProxy, type SeenRequest } from "./fault-proxy.ts";
import { type Tree, writeFleetFile } from "./fleet-file.ts";
import { type Seeded, seededFleet, seedFleet } from "./moto.ts";
import { ScriptedAgents } from "./scripted-agents.ts";
import type { RunningController } from "./swanpair-bin.ts";
import { tempDir } from "./temp-dir.ts";

/**
 * Several `swanpair controller run` processes against one moto, each with its own view of the
 * fleet (its own fleet file, agents and fault proxy): the world they share, what each sent,
 * and what EC2 and the lease table show.
 */

type Teardown = { teardown(fn: () => unknown): void };

/** A fault proxy of its own in front of moto, closed at teardown. */
export async function ownProxy(t: Teardown, moto: string): Promise<FaultProxy> {
  const proxy = await FaultProxy.start(moto);
  t.teardown(() => proxy.close());
  return proxy;
}

export const EAST = { connection: "east-west", pair: "east-pair" } as const;
export const WEST = { connection: "east-west", pair: "west-pair" } as const;

export interface World {
  seeded: Seeded;
  /** The fleet with every agent at the world's scripted agents. */
  fleet: Fleet;
  /** The fleet as seeded, agents at placeholder sockets (for another set of scripted agents). */
  base: Fleet;
  agents: ScriptedAgents;
  /** Writes the fleet file `name` after `change` (see the tree edits below). */
  file(change?: (tree: Tree) => void, name?: string): Promise<string>;
}

/**
 * east (pair east-a, east-b; 3 route tables, each routing west's 4 CIDRs: 12 managed routes)
 * and west (pair west-a, west-b; 1 table, 1 route to east), connection east-west, seeded in
 * moto through `ec2` under the fleet tag `tag` (several worlds may live in one moto, each with
 * its own tag); scripted agents answer for all four, every tunnel up.
 */
export async function seedWorld(
  t: Teardown,
  ec2: EC2Client,
  opts: { tag: string; policy: FailoverPolicy },
): Promise<World> {
  const seeded = await seedFleet(ec2, {
    tag: { key: "swanpair:fleet", value: opts.tag },
    vpcs: [
      { name: "east", cidrs: ["10.1.0.0/16"], tables: 3 },
      { name: "west", cidrs: ["10.2.0.0/16", "10.3.0.0/16", "10.4.0.0/16", "10.5.0.0/16"] },
    ],
    connections: [["east", "west"]],
  });
  // The endpoint is set per controller (its own proxy) by each file.
  const base: Fleet = { ...seededFleet(seeded, "http://127.0.0.1:1"), failover: opts.policy };
  const agents = await ScriptedAgents.start(t, base);
  const fleet = agents.wire(base);
  const dir = await tempDir(t, "swp-ctls-");
  return {
    seeded,
    fleet,
    base,
    agents,
    file: (change, name) => writeFleetFile(dir, fleet, change, name),
  };
}

/** Fleet file edits, to compose in a `file()` change. */
export const edit = {
  /** EC2 at `proxy`'s endpoint (a fault proxy of the controller's own, or moto itself). */
  via: (proxy: { endpoint: string }) => (tree: Tree) => {
    tree.endpoint = proxy.endpoint;
  },
  /** The lease table at `endpoint`. */
  leases: (table: string, ttlMs: number, endpoint: string) => (tree: Tree) => {
    tree.leases = { table, ttlMs, endpoint };
  },
  /** `appliance`'s agent at `socket`: another set of scripted agents, or one nobody serves. */
  agentAt: (appliance: string, socket: string) => (tree: Tree) => {
    const a = tree.appliances.find((x: { name: string }) => x.name === appliance);
    if (!a) throw new Error(`no appliance ${appliance}`);
    a.agent = `unix://${socket}`;
  },
  policy: (change: Partial<FailoverPolicy>) => (tree: Tree) => {
    tree.failover = { ...tree.failover, ...change };
  },
};

/** A socket path nobody serves: the controller is cut off from that agent. */
export const deadSocket = (appliance: string) => `/nonexistent/swanpair/${appliance}.sock`;

/** All edits in order. */
export const all =
  (...changes: Array<(tree: Tree) => void>) =>
  (tree: Tree) => {
    for (const change of changes) change(tree);
  };

/** The route tables of the side's VPC. */
export function sideTables(seeded: Seeded, side: { pair: string }): string[] {
  const vpc = seeded.vpcs.find((v) => v.pairs.some((p) => p.name === side.pair));
  if (!vpc) throw new Error(`no pair ${side.pair}`);
  return vpc.routeTables;
}

export interface SideState {
  /** Per managed route of the side (seed order): the appliance it points at, or "missing". */
  owners: string[];
  /** Per table of the side: its fence as `active@epoch` plus ` term=T` when it has one, or "-". */
  fences: string[];
}

/** One side as EC2 shows it, read straight from moto. */
export async function sideState(
  ec2: EC2Client,
  seeded: Seeded,
  side: { connection: string; pair: string },
): Promise<SideState> {
  const tables = sideTables(seeded, side);
  const out = await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: tables }));
  const byEni = new Map(
    seeded.vpcs.flatMap((v) => v.pairs.flatMap((p) => p.appliances)).map((a) => [a.eni, a.name]),
  );
  const found = new Map(out.RouteTables?.map((tb) => [tb.RouteTableId ?? "", tb]));
  const owners = seeded.managedRoutes
    .filter((r) => r.connection === side.connection && r.pair === side.pair)
    .map((r) => {
      const route = found
        .get(r.routeTable)
        ?.Routes?.find((x) => x.DestinationCidrBlock === r.destination);
      if (!route) return "missing";
      return byEni.get(route.NetworkInterfaceId ?? "") ?? route.NetworkInterfaceId ?? "other";
    });
  const key = fenceKey(side.connection, side.pair);
  const fences = tables.map((id) => {
    const f = parseFence(found.get(id)?.Tags?.find((x) => x.Key === key)?.Value);
    return f ? `${f.active}@${f.epoch}${f.term ? ` term=${f.term}` : ""}` : "-";
  });
  return { owners, fences };
}

/** Whether the routes that exist point at more than one member. */
export const split = (s: SideState) => new Set(s.owners.filter((o) => o !== "missing")).size > 1;

export const allOn = (s: SideState, member: string) =>
  s.owners.length > 0 && s.owners.every((o) => o === member);

/** EC2 actions that change route tables. */
export const MUTATING = new Set([
  "CreateTags",
  "DeleteTags",
  "CreateRoute",
  "ReplaceRoute",
  "DeleteRoute",
  "ReplaceRouteTableAssociation",
]);

/** Mutating requests the proxy saw that name one of `tables` (RouteTableId or ResourceId.N). */
export function mutating(proxy: FaultProxy, tables: string[]): SeenRequest[] {
  const mine = new Set(tables);
  return proxy
    .requests()
    .filter(
      (r) =>
        MUTATING.has(r.action) &&
        Object.entries(r.params).some(
          ([k, v]) => (k === "RouteTableId" || /^ResourceId\.\d+$/.test(k)) && mine.has(v),
        ),
    );
}

/** The side's item key in the lease table (the controller's: fleet tag value, connection, pair). */
export const leaseKey = (seeded: Seeded, side: { connection: string; pair: string }) =>
  `${seeded.tag.value}/${side.connection}/${side.pair}`;

/** The leases a controller's status says it holds, by item key. */
export async function held(
  c: RunningController,
): Promise<Record<string, { epoch: number; validForMs: number }>> {
  return (await c.status()).leases?.held ?? {};
}

export async function ticks(c: RunningController, n: number): Promise<void> {
  const start = (await c.status()).ticks;
  await waitFor(`${n} ticks`, async () =>
    (await c.status()).ticks >= start + n ? true : undefined,
  );
}

/** Log lines of the controller with message `msg` about `side` (any side when omitted). */
export const logged = (
  c: RunningController,
  msg: string,
  side?: { connection: string; pair: string },
) =>
  c.log.filter(
    (l) =>
      l.msg === msg &&
      (side === undefined || (l.connection === side.connection && l.pair === side.pair)),
  );

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
