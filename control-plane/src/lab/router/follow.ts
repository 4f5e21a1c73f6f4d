import {
  DescribeNetworkInterfacesCommand,
  DescribeRouteTablesCommand,
  DescribeSubnetsCommand,
  type EC2Client,
} from "@aws-sdk/client-ec2";
import type { Logger } from "../../../../common/logger.ts";
import {
  desiredRoutes,
  routeKey,
  routeTargets,
  type SubnetRoutes,
  type VpcView,
} from "./desired.ts";
import { bindSubnet, type Devices, flushTable, writeTable } from "./linux.ts";

/**
 * The VPC router's loop, level-triggered: every poll it reads the VPC's route tables from EC2
 * and makes each subnet's Linux table match, a configurable delay after EC2 changed (AWS
 * itself takes up to a few seconds to apply a route change). Every poll re-asserts the whole
 * state, so a missed poll or a failed write heals on the next.
 */

export interface FollowOptions {
  ec2: EC2Client;
  vpcId: string;
  dev: Devices;
  pollMs: number;
  delayMs: number;
  logger: Logger;
  signal: AbortSignal;
}

async function readVpc(
  ec2: EC2Client,
  vpcId: string,
  addresses: Map<string, string>,
): Promise<VpcView> {
  const filter = [{ Name: "vpc-id", Values: [vpcId] }];
  const [subnets, tables] = await Promise.all([
    ec2.send(new DescribeSubnetsCommand({ Filters: filter })),
    ec2.send(new DescribeRouteTablesCommand({ Filters: filter })),
  ]);
  const routeTables = tables.RouteTables ?? [];
  // An ENI keeps its primary address for life: each is asked once.
  const unknown = routeTargets(routeTables).filter(
    (id) => id.startsWith("eni-") && !addresses.has(id),
  );
  if (unknown.length > 0) {
    const enis = await ec2.send(
      new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: unknown }),
    );
    for (const e of enis.NetworkInterfaces ?? []) {
      if (e.NetworkInterfaceId && e.PrivateIpAddress)
        addresses.set(e.NetworkInterfaceId, e.PrivateIpAddress);
      const instance = e.Attachment?.InstanceId;
      if (instance && e.PrivateIpAddress) addresses.set(instance, e.PrivateIpAddress);
    }
  }
  return {
    subnets: (subnets.Subnets ?? []).map((s) => ({
      id: s.SubnetId ?? "",
      cidr: s.CidrBlock ?? "",
    })),
    routeTables,
    addresses,
  };
}

interface TableState {
  applied: string[];
  pending?: { keys: string[]; since: number };
}

const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

export async function followRouteTables(o: FollowOptions): Promise<void> {
  const addresses = new Map<string, string>();
  const state = new Map<number, TableState>();
  while (!o.signal.aborted) {
    const started = Date.now();
    try {
      const desired = desiredRoutes(await readVpc(o.ec2, o.vpcId, addresses));
      for (const s of desired) await follow(o, state, s, started);
    } catch (err) {
      o.logger.warn({ err: (err as Error).message }, "route tables unreadable");
    }
    const wait = Math.max(0, o.pollMs - (Date.now() - started));
    await new Promise((r) => setTimeout(r, wait));
  }
}

async function follow(
  o: FollowOptions,
  state: Map<number, TableState>,
  s: SubnetRoutes,
  now: number,
) {
  const keys = s.routes.map(routeKey);
  let t = state.get(s.table);
  if (t === undefined) {
    await flushTable(s.table);
    await bindSubnet(s, o.dev);
    t = { applied: [] };
    state.set(s.table, t);
    // The first state is how the lab starts, not a change to delay.
    t.pending = { keys, since: now - o.delayMs };
  }
  if (same(keys, t.applied)) {
    t.pending = undefined;
    return;
  }
  if (t.pending === undefined || !same(t.pending.keys, keys)) t.pending = { keys, since: now };
  if (now - t.pending.since < o.delayMs) return;
  const dsts = new Set(s.routes.map((r) => r.dst));
  const stale = t.applied.map((k) => k.split(" ")[0] ?? "").filter((d) => !dsts.has(d));
  await writeTable(s.table, s.routes, stale, o.dev);
  const added = keys.filter((k) => !t.applied.includes(k));
  o.logger.info(
    {
      subnet: s.cidr,
      table: s.table,
      routeTable: s.routeTable,
      added,
      routes: keys,
      seenAt: new Date(t.pending.since).toISOString(),
    },
    "routes applied",
  );
  t.applied = keys;
  t.pending = undefined;
}
