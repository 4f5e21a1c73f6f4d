/**
 * Lease benchmarks (part of npm run bench:controller):
 *  - cost: DynamoDB requests per minute per side for one central controller holding every
 *    side of a fleet, read from its /metrics (swanpair_lease_calls);
 *  - takeover: a co-located pair; the active appliance dies at T0 (its controller SIGKILLed,
 *    its agent gone, the far agents' tunnels to it down) and the time until the partner's
 *    first route write is measured by polling DescribeRouteTables every 20 ms, with and
 *    without a lease table (with one, the partner also waits for the lease to run out).
 */
import { DescribeRouteTablesCommand } from "@aws-sdk/client-ec2";
import { Ec2 } from "../control-plane/src/ec2/client.ts";
import type { FailoverPolicy, Fleet } from "../control-plane/src/fleet/types.ts";
import { leaseClient } from "../control-plane/src/leases/client.ts";
import { createLeaseTable } from "../control-plane/src/leases/table.ts";
import { writeFleetFile } from "../test/helpers/fleet-file.ts";
import { type Moto, seededFleet, seedFleet, startMoto } from "../test/helpers/moto.ts";
import { ScriptedAgents } from "../test/helpers/scripted-agents.ts";
import { startController } from "../test/helpers/swanpair-bin.ts";
import { tempDir } from "../test/helpers/temp-dir.ts";
import { median } from "./median.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Teardown = { teardown(fn: () => unknown): void };

async function withMoto<T>(use: (moto: Moto, ec2: Ec2, t: Teardown) => Promise<T>): Promise<T> {
  const teardowns: Array<() => unknown> = [];
  const t = { teardown: (fn: () => unknown) => void teardowns.push(fn) };
  const moto = await startMoto(t);
  const ec2 = new Ec2({ region: "eu-west-1", endpoint: moto.endpoint });
  try {
    return await use(moto, ec2, t);
  } finally {
    ec2.destroy();
    for (const fn of teardowns.reverse()) await fn();
  }
}

async function leaseTable(moto: Moto, table: string): Promise<void> {
  const client = leaseClient({ endpoint: moto.endpoint }, "eu-west-1");
  try {
    await createLeaseTable(client, table);
  } finally {
    client.destroy();
  }
}

async function world(
  moto: Moto,
  ec2: Ec2,
  t: Teardown,
  policy: FailoverPolicy,
  leases?: Fleet["leases"],
) {
  await moto.reset();
  if (leases) await leaseTable(moto, leases.table);
  const seeded = await seedFleet(ec2.sdk, {
    tag: { key: "swanpair:fleet", value: "bench" },
    vpcs: [
      { name: "east", cidrs: ["10.1.0.0/16"], tables: 2 },
      { name: "west", cidrs: ["10.2.0.0/16"] },
    ],
    connections: [["east", "west"]],
  });
  const base: Fleet = {
    ...seededFleet(seeded, moto.endpoint),
    failover: policy,
    ...(leases ? { leases: { ...leases, endpoint: moto.endpoint } } : {}),
  };
  const agents = await ScriptedAgents.start(t, base);
  const file = await writeFleetFile(await tempDir(t, "swp-bench-"), agents.wire(base));
  return { seeded, agents, file };
}

export interface LeaseCost {
  ttlMs: number;
  sides: number;
  minutes: number;
  requestsPerMinutePerSide: number;
}

/** One central controller holding both sides of one connection for `seconds`. */
export async function leaseCost(ttlMs: number, seconds: number): Promise<LeaseCost> {
  return withMoto(async (moto, ec2, t) => {
    const policy = { intervalMs: 500, fall: 3, rise: 3, holdDownMs: 30_000, preempt: false };
    const { file } = await world(moto, ec2, t, policy, { table: "swp-bench-leases", ttlMs });
    const ctl = await startController(t, ["--config", file]);
    await sleep(seconds * 1000);
    const metrics = await ctl.metrics();
    await ctl.stop();
    const requests = [...metrics.matchAll(/^swanpair_lease_calls\{[^}]*\} (\d+)/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
    const sides = 2;
    const minutes = seconds / 60;
    return {
      ttlMs,
      sides,
      minutes,
      requestsPerMinutePerSide: Math.round((requests / minutes / sides) * 10) / 10,
    };
  });
}

export interface Takeover {
  leases: boolean;
  policy: FailoverPolicy;
  ttlMs: number | null;
  runs: number[];
  medianMs: number;
}

/** Co-located pair in east; east-a (the owner) dies; time to east-b's first route write. */
export async function takeover(
  policy: FailoverPolicy,
  ttlMs: number | undefined,
  runs: number,
): Promise<Takeover> {
  return withMoto(async (moto, ec2, t) => {
    const results: number[] = [];
    for (let run = 0; run < runs; run++) {
      const leases = ttlMs ? { table: `swp-bench-${run}`, ttlMs } : undefined;
      const { seeded, agents, file } = await world(moto, ec2, t, policy, leases);
      const east = seeded.vpcs[0];
      const west = seeded.vpcs[1];
      if (!east || !west) throw new Error("seed: east and west expected");
      const [a, b] = east.appliances;
      const ctlA = await startController(t, ["--config", file, "--self", a.name]);
      const ctlB = await startController(t, ["--config", file, "--self", b.name]);
      const onB = async () => {
        const out = await ec2.sdk.send(
          new DescribeRouteTablesCommand({ RouteTableIds: east.routeTables }),
        );
        return (out.RouteTables ?? []).some((tb) =>
          (tb.Routes ?? []).some((r) => r.NetworkInterfaceId === b.eni),
        );
      };
      // Converged on east-a (the preferred member), with its lease held.
      for (let i = 0; ; i++) {
        const s = await ctlA.status();
        const owned = s.sides?.some(
          (x: { pair: string; active?: string }) => x.pair === "east-pair" && x.active === a.name,
        );
        if (owned && (!leases || Object.keys(s.leases?.held ?? {}).length > 0)) break;
        if (i > 600) throw new Error("east-a never took the routes");
        await sleep(50);
      }
      const t0 = Date.now();
      await Promise.all([ctlA.kill(), agents.down(a.name)]);
      for (const w of west.appliances) agents.setTunnels(w.name, { [a.name]: "down" });
      while (!(await onB())) {
        if (Date.now() - t0 > 60_000) throw new Error("east-b never took the routes");
        await sleep(20);
      }
      results.push(Date.now() - t0);
      await ctlB.stop();
      await agents.close();
    }
    return {
      leases: ttlMs !== undefined,
      policy,
      ttlMs: ttlMs ?? null,
      runs: results,
      medianMs: median(results),
    };
  });
}
