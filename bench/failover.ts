/**
 * Failover benchmark (npm run bench:failover; part of npm run bench): how long one connection
 * side takes to move from one member to the other, and how many EC2 calls that costs, for
 * 10, 100 and 500 routes over 5, 50 and 100 tables, in place and in swap mode
 * (docs/decisions/0009-association-swap.md). Writes bench/results/failover.json and the
 * failover section of docs/benchmarks.md. Numbers, not pass/fail: the tests check behaviour.
 *
 * The world is moto behind the fault proxy, which throttles each EC2 action with its own
 * token bucket sized as EC2's (see BUCKETS). Seeding goes straight to moto, unthrottled.
 *
 * Layout per scenario of R routes in T tables: the near VPC (where the failover happens) and
 * a far VPC with R/T CIDRs (2 for 10/5 and 100/50, 5 for 500/100), one connection. In place:
 * T tables in the near VPC, each holding a route to every far CIDR, R routes in all. Swap: T
 * groups, each of one subnet and two member tables (2T tables, each prepared with R/T routes
 * to its member), so that the same R routes serve the same T subnets.
 *
 * The failover runs as the controller runs a WriteRoutes action: fence tags on the side's
 * tables, then writeRoutes without precheck; when some writes give up (RouteWriteError), the
 * next tick, one interval later, reads the tables again and writes what still drifts. The
 * clock stops once DescribeRouteTables shows every unit on the new member.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { resolve } from "node:path";
import { executeWrite } from "../control-plane/src/controller/execute.ts";
import { drifted, observedEnis, type Side, sidesOf } from "../control-plane/src/decide/sides.ts";
import type { WriteRoutes } from "../control-plane/src/decide/types.ts";
import { DEFAULT_EC2_OPTIONS, Ec2, type Ec2CallCounter } from "../control-plane/src/ec2/client.ts";
import { describeManagedTables } from "../control-plane/src/ec2/managed-tables.ts";
import { RouteWriteError } from "../control-plane/src/ec2/route-writes.ts";
import { prepareSwapTables } from "../control-plane/src/ec2/swap.ts";
import type { Fleet } from "../control-plane/src/fleet/types.ts";
import { type Bucket, FaultProxy } from "../test/helpers/fault-proxy.ts";
import { type SeedSpec, seededFleet, seedFleet, startMoto } from "../test/helpers/moto.ts";
import { writeBenchmarksDoc } from "./report.ts";

const OUT = resolve(import.meta.dirname, "results/failover.json");
const REGION = "us-east-1";
/** The controller's default tick: a write cut short is taken up again one interval later. */
const TICK_MS = 500;
/** A failover that has not converged by then is reported as such, not waited on forever. */
const GIVE_UP_MS = 300_000;

/**
 * EC2's request token buckets as *Request throttling for the Amazon EC2 API* (Amazon EC2
 * Developer Guide, https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html,
 * "Request token bucket sizes and refill rates") gives them; see decision 0007. Per action,
 * starting full. None of these actions is among the page's uncategorized ones but CreateTags.
 */
export const BUCKETS: Record<string, Bucket> = {
  /** Mutating actions: 50 tokens, 5 per second. */
  ReplaceRoute: { size: 50, refillPerSecond: 5 },
  CreateRoute: { size: 50, refillPerSecond: 5 },
  ReplaceRouteTableAssociation: { size: 50, refillPerSecond: 5 },
  AssociateRouteTable: { size: 50, refillPerSecond: 5 },
  /** Uncategorized, with a bucket of its own. */
  CreateTags: { size: 100, refillPerSecond: 10 },
  /** Non-mutating actions (filtered, so not the smaller unfiltered bucket). */
  DescribeRouteTables: { size: 100, refillPerSecond: 20 },
};

export const SCENARIOS = [
  { routes: 10, tables: 5 },
  { routes: 100, tables: 50 },
  { routes: 500, tables: 100 },
] as const;
export type Mode = "in-place" | "swap";

export interface FailoverResult {
  mode: Mode;
  routes: number;
  tables: number;
  farCidrs: number;
  /** Subnets moved (swap mode). */
  subnets: number;
  /** Units the engine hands to writeRoutes: routes in place, associations in swap mode. */
  units: number;
  /** Tables carrying the side's fence tags. */
  fenceTables: number;
  /** From the decision to DescribeRouteTables showing every unit on the new member. */
  seconds: number;
  converged: boolean;
  /** Write rounds: the first, plus one per tick that found units still drifting. */
  rounds: number;
  /** Every HTTP attempt by operation and outcome, from the client's call counter. */
  calls: ReturnType<Ec2CallCounter["snapshot"]>;
  totalCalls: number;
  okCalls: number;
  throttledCalls: number;
  /** Swap mode: one prepare pass over already-prepared tables, the controller's slow timer. */
  prepareCheck?: { seconds: number; calls: ReturnType<Ec2CallCounter["snapshot"]> };
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** Far CIDRs 10.100.0.0/16, 10.101.0.0/16, ... */
const farCidrs = (n: number) => Array.from({ length: n }, (_, i) => `10.${100 + i}.0.0/16`);

function spec(mode: Mode, routes: number, tables: number): SeedSpec {
  const near =
    mode === "in-place"
      ? { name: "near", cidrs: ["10.1.0.0/16"], tables }
      : { name: "near", cidrs: ["10.1.0.0/16"], tables: 0, swap: { groups: tables } };
  return {
    tag: { key: "swanpair:fleet", value: "bench" },
    vpcs: [near, { name: "far", cidrs: farCidrs(routes / tables) }],
    connections: [["near", "far"]],
  };
}

/** The write the engine asks for when the side moves from its first member to its second. */
async function decision(ec2: Ec2, fleet: Fleet, side: Side): Promise<WriteRoutes> {
  const view = await describeManagedTables(ec2, fleet, side.routes);
  const observed = view.routes.map((r) => ({
    routeTable: r.routeTable,
    destination: r.destination,
    eni: r.target.kind === "eni" ? r.target.eni : null,
  }));
  const target = side.members[1];
  return {
    kind: "write-routes",
    connection: side.connection,
    pair: side.pair,
    target,
    eni: side.enis[target] as string,
    epoch: 1,
    decidedAt: Date.now(),
    routeTables: side.routeTables,
    routes: drifted(side, observedEnis(side, observed), target),
  };
}

/** Exactly what the controller does with the action; false when some writes gave up. */
async function execute(ec2: Ec2, action: WriteRoutes): Promise<boolean> {
  try {
    await executeWrite(ec2, action);
    return true;
  } catch (error) {
    if (error instanceof RouteWriteError) return false;
    throw error;
  }
}

async function scenario(
  moto: Awaited<ReturnType<typeof startMoto>>,
  proxy: FaultProxy,
  mode: Mode,
  routes: number,
  tables: number,
): Promise<FailoverResult> {
  await moto.reset();
  const direct = new Ec2({ region: REGION, endpoint: moto.endpoint });
  const seed = await seedFleet(direct.sdk, spec(mode, routes, tables));
  const fleet = seededFleet(seed, proxy.endpoint);
  const side = sidesOf(fleet).find((s) => s.pair === "near-pair") as Side;
  // The controller's own client and defaults, through the throttling proxy.
  const ec2 = new Ec2(fleet, DEFAULT_EC2_OPTIONS);
  proxy.reset();
  proxy.throttle((action) => BUCKETS[action]);
  try {
    // The tick that decides has read the tables already: that read is not the failover's.
    let action = await decision(ec2, fleet, side);
    ec2.calls.reset();
    const started = performance.now();
    let rounds = 0;
    let converged = false;
    while (performance.now() - started < GIVE_UP_MS) {
      rounds++;
      if (await execute(ec2, action)) {
        // Confirmed by a read around the module under test, unthrottled.
        const view = await describeManagedTables(direct, fleet, side.routes);
        converged = view.routes.every(
          (r) => r.target.kind === "eni" && r.target.eni === action.eni,
        );
        if (converged) break;
      }
      await new Promise((r) => setTimeout(r, TICK_MS));
      action = {
        ...(await decision(ec2, fleet, side)),
        epoch: action.epoch,
        decidedAt: action.decidedAt,
      };
    }
    const seconds = round2((performance.now() - started) / 1000);
    const calls = ec2.calls.snapshot();
    const result: FailoverResult = {
      mode,
      routes,
      tables,
      farCidrs: routes / tables,
      subnets: mode === "swap" ? tables : 0,
      units: side.routes.length,
      fenceTables: side.routeTables.length,
      seconds,
      converged,
      rounds,
      calls,
      totalCalls: ec2.calls.count(),
      okCalls: ec2.calls.count(undefined, "ok"),
      throttledCalls: ec2.calls.count(undefined, "throttled"),
    };
    if (mode === "swap") {
      // The slow timer's steady-state cost, once the buckets have refilled.
      await new Promise((r) => setTimeout(r, 10_000));
      ec2.calls.reset();
      const t0 = performance.now();
      await prepareSwapTables(ec2, fleet);
      result.prepareCheck = {
        seconds: round2((performance.now() - t0) / 1000),
        calls: ec2.calls.snapshot(),
      };
    }
    return result;
  } finally {
    ec2.destroy();
    direct.destroy();
  }
}

export async function failoverBench(): Promise<FailoverResult[]> {
  const cleanups: Array<() => unknown> = [];
  const moto = await startMoto({ teardown: (fn) => cleanups.push(fn) }, 60_000);
  const proxy = await FaultProxy.start(moto.endpoint);
  try {
    const results: FailoverResult[] = [];
    for (const { routes, tables } of SCENARIOS)
      for (const mode of ["in-place", "swap"] as const) {
        const r = await scenario(moto, proxy, mode, routes, tables);
        process.stderr.write(
          `${mode} ${routes} routes / ${tables} tables: ${r.seconds} s, ${r.totalCalls} calls (${r.okCalls} ok, ${r.throttledCalls} throttled), ${r.rounds} round(s)${r.converged ? "" : ", NOT CONVERGED"}\n`,
        );
        results.push(r);
      }
    return results;
  } finally {
    await proxy.close();
    for (const fn of cleanups.reverse()) await fn();
  }
}

if (import.meta.main) {
  const results = {
    machine: { cpus: cpus().length, node: process.version },
    at: new Date().toISOString(),
    buckets: BUCKETS,
    tickMs: TICK_MS,
    client: DEFAULT_EC2_OPTIONS,
    anchor: { source: "F5", seconds: { 100: 5, 200: 15, 500: 90 } },
    target: { routes: 500, tables: 100, seconds: 15 },
    scenarios: await failoverBench(),
  };
  await mkdir(resolve(import.meta.dirname, "results"), { recursive: true });
  await writeFile(OUT, `${JSON.stringify(results, null, 2)}\n`);
  await writeBenchmarksDoc();
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}
