/**
 * Controller benchmarks (part of npm run bench). Writes bench/results/controller.json.
 *
 *  - decide(): one engine tick for fleets of growing size (pure; no I/O)
 *  - detection → decision → routes converged, end to end: the real `swanpair controller run`
 *    against moto, agents answering on their real API; the active member's agent stops
 *    answering and EC2 stops its instance at T0. Timestamps come from the controller's own log
 *    (failover event) and from polling DescribeRouteTables every 20 ms.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { DescribeRouteTablesCommand, StopInstancesCommand } from "@aws-sdk/client-ec2";
import { decide, initialState } from "../control-plane/src/decide/engine.ts";
import type { Observation } from "../control-plane/src/decide/types.ts";
import { Ec2 } from "../control-plane/src/ec2/client.ts";
import { connectionPairs } from "../control-plane/src/fleet/connections.ts";
import { managedRoutes } from "../control-plane/src/fleet/routes.ts";
import { DEFAULT_FAILOVER } from "../control-plane/src/fleet/schema.ts";
import type { FailoverPolicy, Fleet } from "../control-plane/src/fleet/types.ts";
import { writeFleetFile } from "../test/helpers/fleet-file.ts";
import { seededFleet, seedFleet, startMoto } from "../test/helpers/moto.ts";
import { ScriptedAgents } from "../test/helpers/scripted-agents.ts";
import { startController } from "../test/helpers/swanpair-bin.ts";
import { tempDir } from "../test/helpers/temp-dir.ts";
import { type LeaseCost, leaseCost, type Takeover, takeover } from "./leases.ts";
import { median } from "./median.ts";
import { writeBenchmarksDoc } from "./report.ts";

const OUT = resolve(import.meta.dirname, "results/controller.json");
const round = (x: number) => Math.round(x * 1000) / 1000;

/** `connections` site-to-site connections between hub VPC 0 and spokes, `tables` per VPC. */
function syntheticFleet(connections: number, tables: number, cidrsPerVpc: number): Fleet {
  const vpcs = Array.from({ length: connections + 1 }, (_, v) => ({
    name: `v${v}`,
    id: `vpc-${v}`,
    cidrs: Array.from({ length: cidrsPerVpc }, (_, c) => `10.${v}.${c * 16}.0/20`),
    routeTables: Array.from({ length: tables }, (_, i) => `rtb-${v}-${i}`),
  }));
  const members = (v: number) => [`a${v}`, `b${v}`] as [string, string];
  return {
    region: "eu-west-1",
    tag: { key: "swanpair:fleet", value: "bench" },
    vpcs,
    appliances: vpcs.flatMap((_, v) =>
      members(v).map((name) => ({
        name,
        vpc: `v${v}`,
        instanceId: `i-${name}`,
        eni: `eni-${name}`,
        agent: { kind: "unix" as const, path: `/run/${name}.sock` },
      })),
    ),
    pairs: vpcs.map((_, v) => ({
      name: `p${v}`,
      vpc: `v${v}`,
      members: members(v),
      preferred: `a${v}`,
    })),
    connections: Array.from({ length: connections }, (_, c) => ({
      name: `c${c + 1}`,
      kind: "site-to-site" as const,
      between: ["p0", `p${c + 1}`] as [string, string],
    })),
    failover: DEFAULT_FAILOVER,
  };
}

function engineTick(connections: number, tables: number, cidrs: number) {
  const fleet = syntheticFleet(connections, tables, cidrs);
  const routes = managedRoutes(fleet);
  const eniOf = new Map(fleet.pairs.map((p) => [p.name, `eni-${p.members[0]}`]));
  const observation: Observation = {
    now: 1_000_000,
    members: Object.fromEntries(
      fleet.appliances.map((a) => [
        a.name,
        {
          agentReachable: true,
          tunnels: Object.fromEntries(fleet.connections.map((c) => [c.name, "up" as const])),
          ec2: "running" as const,
        },
      ]),
    ),
    sides: fleet.connections.flatMap((c) =>
      connectionPairs(c).map((pair) => ({
        connection: c.name,
        pair,
        routes: routes
          .filter((r) => r.connection === c.name && r.pair === pair)
          .map((r) => ({
            routeTable: r.routeTable,
            destination: r.destination,
            eni: eniOf.get(pair) ?? null,
          })),
        fences: [],
      })),
    ),
  };
  let state = initialState;
  for (let i = 0; i < 50; i++)
    state = decide(fleet, state, { ...observation, now: observation.now + i }).state;
  const runs = 500;
  const start = performance.now();
  for (let i = 0; i < runs; i++)
    decide(fleet, state, { ...observation, now: observation.now + 50 + i });
  const perTickMs = (performance.now() - start) / runs;
  return { connections, tables, routes: routes.length, perTickMs: round(perTickMs) };
}

interface EndToEnd {
  policy: FailoverPolicy;
  routes: number;
  runs: Array<{ detectMs: number; convergeMs: number; totalMs: number }>;
  median: { detectMs: number; convergeMs: number; totalMs: number };
}

async function endToEnd(policy: FailoverPolicy, runs: number): Promise<EndToEnd> {
  const teardowns: Array<() => unknown> = [];
  const t = { teardown: (fn: () => unknown) => void teardowns.push(fn) };
  const moto = await startMoto(t);
  const ec2 = new Ec2({ region: "eu-west-1", endpoint: moto.endpoint });
  const results: EndToEnd["runs"] = [];
  let routeCount = 0;
  try {
    for (let run = 0; run < runs; run++) {
      await moto.reset();
      const seeded = await seedFleet(ec2.sdk, {
        tag: { key: "swanpair:fleet", value: "bench" },
        vpcs: [
          { name: "east", cidrs: ["10.1.0.0/16"], tables: 5 },
          { name: "west", cidrs: ["10.2.0.0/16", "10.3.0.0/16"] },
        ],
        connections: [["east", "west"]],
      });
      const base = { ...seededFleet(seeded, moto.endpoint), failover: policy };
      const agents = await ScriptedAgents.start(t, base);
      const file = await writeFleetFile(await tempDir(t, "swp-bench-"), agents.wire(base));
      const ctl = await startController(t, ["--config", file]);
      const east = seeded.vpcs[0];
      if (!east) throw new Error("seed: east expected");
      const target = east.appliances[1].eni;
      const eastRoutes = seeded.managedRoutes.filter((r) => r.pair === "east-pair");
      routeCount = eastRoutes.length;
      // Let the controller see everyone healthy first.
      while (
        (await ctl.status()).sides[0]?.members.every(
          (m: { status: string }) => m.status === "healthy",
        ) !== true
      )
        await new Promise((r) => setTimeout(r, 50));
      const t0 = Date.now();
      await Promise.all([
        agents.down(east.appliances[0].name),
        ec2.sdk.send(new StopInstancesCommand({ InstanceIds: [east.appliances[0].instanceId] })),
      ]);
      for (;;) {
        const out = await ec2.sdk.send(
          new DescribeRouteTablesCommand({ RouteTableIds: east.routeTables }),
        );
        const on = (out.RouteTables ?? []).flatMap((tb) =>
          (tb.Routes ?? []).filter(
            (r) => r.NetworkInterfaceId === target && r.DestinationCidrBlock !== "192.168.255.0/24",
          ),
        );
        if (on.length === eastRoutes.length) break;
        if (Date.now() - t0 > 60_000) throw new Error("no convergence within 60 s");
        await new Promise((r) => setTimeout(r, 20));
      }
      const t2 = Date.now();
      const failover = ctl.log.find((l) => l.msg === "failover");
      const t1 = Date.parse(String(failover?.time));
      results.push({ detectMs: t1 - t0, convergeMs: t2 - t1, totalMs: t2 - t0 });
      await ctl.stop();
      await agents.close();
    }
  } finally {
    ec2.destroy();
    for (const fn of teardowns.reverse()) await fn();
  }
  const pick = (k: keyof EndToEnd["runs"][number]) => median(results.map((r) => r[k]));
  return {
    policy,
    routes: routeCount,
    runs: results,
    median: {
      detectMs: pick("detectMs"),
      convergeMs: pick("convergeMs"),
      totalMs: pick("totalMs"),
    },
  };
}

export interface ControllerResults {
  at: string;
  engine: ReturnType<typeof engineTick>[];
  endToEnd: EndToEnd[];
  leases: { cost: LeaseCost[]; takeover: Takeover[] };
}

export async function benchController(): Promise<ControllerResults> {
  const engine = [engineTick(1, 5, 2), engineTick(10, 10, 5), engineTick(50, 20, 5)];
  const defaults: FailoverPolicy = DEFAULT_FAILOVER;
  const e2e = [
    await endToEnd(defaults, 5),
    await endToEnd({ ...defaults, intervalMs: 200, fall: 2 }, 5),
  ];
  const fast: FailoverPolicy = { ...defaults, intervalMs: 200, fall: 2 };
  const leases = {
    cost: [await leaseCost(15_000, 30), await leaseCost(3_000, 30)],
    takeover: [await takeover(fast, undefined, 5), await takeover(fast, 3_000, 5)],
  };
  const result = { at: new Date().toISOString(), engine, endToEnd: e2e, leases };
  await mkdir(resolve(OUT, ".."), { recursive: true });
  await writeFile(OUT, `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

if (import.meta.main) {
  console.log(JSON.stringify(await benchController(), null, 2));
  await writeBenchmarksDoc();
}
