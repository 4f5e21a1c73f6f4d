import {
  DescribeRouteTablesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
} from "@aws-sdk/client-ec2";
import t, { type Test } from "tap";
import { Ec2 } from "../../control-plane/src/ec2/client.ts";
import { writeFence } from "../../control-plane/src/ec2/fences.ts";
import { fenceKey, parseFence } from "../../control-plane/src/fleet/fence-tags.ts";
import type { FailoverPolicy, Fleet } from "../../control-plane/src/fleet/types.ts";
import { waitFor } from "../helpers/agent-lab.ts";
import { FaultProxy } from "../helpers/fault-proxy.ts";
import { type Tree, writeFleetFile } from "../helpers/fleet-file.ts";
import { type Seeded, type SeedSpec, seededFleet, seedFleet, startMoto } from "../helpers/moto.ts";
import { ScriptedAgents } from "../helpers/scripted-agents.ts";
import { type RunningController, startController, swanpair } from "../helpers/swanpair-bin.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * The `swanpair` controller and its commands as processes, against a real moto server seeded
 * through the EC2 API, with agents answering on their real API. Routes and fence tags are read
 * back through the EC2 API.
 */

const moto = await startMoto(t);
const ec2 = new Ec2({ region: "eu-west-1", endpoint: moto.endpoint });
/** Between a controller and moto when a test's fleet file says so (`throughProxy`). */
const proxy = await FaultProxy.start(moto.endpoint);
t.teardown(() => proxy.close());
const throughProxy = (tree: Tree) => {
  tree.endpoint = proxy.endpoint;
};
t.teardown(() => ec2.destroy());

const FAST: FailoverPolicy = {
  intervalMs: 200,
  fall: 2,
  rise: 2,
  holdDownMs: 5000,
  preempt: false,
};

/** east: 3 tables, each routing west's 4 CIDRs (12 managed routes); west: 1 table. */
async function world(
  t: Test,
  opts: {
    policy?: FailoverPolicy;
    east?: Partial<SeedSpec["vpcs"][number]>;
  } = {},
) {
  await moto.reset();
  proxy.reset();
  const seeded = await seedFleet(ec2.sdk, {
    tag: { key: "swanpair:fleet", value: "ctl-test" },
    vpcs: [
      { name: "east", cidrs: ["10.1.0.0/16"], tables: 3, ...opts.east },
      { name: "west", cidrs: ["10.2.0.0/16", "10.3.0.0/16", "10.4.0.0/16", "10.5.0.0/16"] },
    ],
    connections: [["east", "west"]],
  });
  const base: Fleet = { ...seededFleet(seeded, moto.endpoint), failover: opts.policy ?? FAST };
  const agents = await ScriptedAgents.start(t, base);
  const fleet = agents.wire(base);
  const dir = await tempDir(t, "swp-ctl-");
  const file = (change?: (tree: Tree) => void, name?: string) =>
    writeFleetFile(dir, fleet, change, name);
  return { seeded, fleet, agents, file, dir };
}

const appliance = (seeded: Seeded, name: string) => {
  const a = seeded.vpcs.flatMap((v) => v.appliances).find((x) => x.name === name);
  if (!a) throw new Error(`no appliance ${name}`);
  return a;
};

/** The side whose routes and fence eastSide reads. */
const EAST_SIDE = { connection: "east-west", pair: "east-pair" };

/** Per managed east route, the ENI it points at; and east's side's fence on each of its tables. */
async function eastSide(seeded: Seeded) {
  const east = seeded.vpcs[0];
  if (!east) throw new Error("seed: east expected");
  const out = await ec2.sdk.send(
    new DescribeRouteTablesCommand({ RouteTableIds: east.routeTables }),
  );
  const enis: string[] = [];
  const fences: string[] = [];
  for (const table of out.RouteTables ?? []) {
    for (const r of table.Routes ?? [])
      if (r.DestinationCidrBlock?.startsWith("10.") && r.DestinationCidrBlock !== "10.1.0.0/16")
        enis.push(r.NetworkInterfaceId ?? "none");
    const key = fenceKey(EAST_SIDE.connection, EAST_SIDE.pair);
    const fence = parseFence(table.Tags?.find((x) => x.Key === key)?.Value);
    fences.push(`${fence?.active ?? "-"}@${fence?.epoch ?? "-"}`);
  }
  return { enis, fences };
}

async function ticks(c: RunningController, n: number) {
  const start = (await c.status()).ticks;
  await waitFor(`${n} ticks`, async () =>
    (await c.status()).ticks >= start + n ? true : undefined,
  );
}

const allOn = (enis: string[], eni: string) => enis.length === 12 && enis.every((e) => e === eni);

async function stopInstance(seeded: Seeded, name: string) {
  await ec2.sdk.send(
    new StopInstancesCommand({ InstanceIds: [appliance(seeded, name).instanceId] }),
  );
}

t.test(
  "status and plan show health and the move a dead member calls for, and write nothing",
  async (t) => {
    const { seeded, agents, file } = await world(t);
    const path = await file();
    const status = await swanpair("status", "--config", path, "--json");
    t.equal(status.code, 0, status.stderr);
    const sides = JSON.parse(status.stdout).sides;
    t.match(sides[0], {
      connection: "east-west",
      pair: "east-pair",
      active: "east-a",
      fence: null,
      routes: 12,
      drift: [],
      members: [
        {
          name: "east-a",
          status: "healthy",
          agent: "reachable",
          tunnel: "up",
          ec2: "running",
          signals: [],
        },
        { name: "east-b", status: "healthy" },
      ],
    });
    const clean = await swanpair("plan", "--config", path);
    t.equal(clean.code, 0, clean.stderr);
    t.match(clean.stdout, /no changes/);

    await agents.down("east-a");
    await stopInstance(seeded, "east-a");
    const before = await eastSide(seeded);
    const plan = await swanpair("plan", "--config", path, "--json");
    t.equal(plan.code, 0, plan.stderr);
    const planned = JSON.parse(plan.stdout);
    t.match(planned.writes, [
      { connection: "east-west", pair: "east-pair", target: "east-b", epoch: 1 },
    ]);
    t.equal(planned.writes[0].routes.length, 12);
    t.ok(
      planned.events.some(
        (e: { kind: string; reason?: string }) =>
          e.kind === "failover" && e.reason === "active-dead",
      ),
    );
    const text = await swanpair("plan", "--config", path);
    t.match(
      text.stdout,
      /east-west\/east-pair: failover from east-a \(active-dead\): 12 route\(s\) to east-b/,
    );
    t.same(await eastSide(seeded), before, "plan wrote nothing");

    const human = await swanpair("status", "--config", path);
    t.match(
      human.stdout,
      /east-a\*\s+dead\s+unreachable\s+unknown\s+unmeasured\s+stopped\s+agent-unreachable,ec2-stopped/,
    );
    t.match(human.stdout, /could not read:\n\s+agent east-a: /);
  },
);

t.test(
  "the controller moves routes only on two signals, records the fence, and reports it",
  async (t) => {
    const { seeded, agents, file } = await world(t);
    const ctl = await startController(t, ["--config", await file()]);
    await ticks(ctl, 3);
    const eniA = appliance(seeded, "east-a").eni;
    const eniB = appliance(seeded, "east-b").eni;
    t.ok(allOn((await eastSide(seeded)).enis, eniA), "healthy: routes stay");
    t.same(
      (await eastSide(seeded)).fences,
      ["-@-", "-@-", "-@-"],
      "nothing written while all is well",
    );

    // One signal (the controller cannot reach east-a's agent) is not enough.
    await agents.down("east-a");
    await ticks(ctl, FAST.fall + 3);
    t.ok(allOn((await eastSide(seeded)).enis, eniA), "agent unreachable alone: routes stay");
    const unready = await ctl.status();
    t.match(unready.sides[0].members[0], {
      name: "east-a",
      status: "unready",
      signals: ["agent-unreachable"],
    });

    // EC2 confirms: now it fails over.
    await stopInstance(seeded, "east-a");
    await waitFor("failover to east-b", async () =>
      allOn((await eastSide(seeded)).enis, eniB) ? true : undefined,
    );
    t.same((await eastSide(seeded)).fences, ["east-b@1", "east-b@1", "east-b@1"]);
    const after = await waitFor("status to show it", async () => {
      const s = await ctl.status();
      return s.sides[0].active === "east-b" && s.sides[0].drift.length === 0 ? s : undefined;
    });
    t.match(after.sides[0].lastFailover, {
      from: "east-a",
      to: "east-b",
      reason: "active-dead",
      epoch: 1,
    });
    t.equal(after.sides[1].active, "west-a", "the other side stays where it was");
    const metrics = await ctl.metrics();
    t.match(
      metrics,
      /swanpair_failovers_total\{connection="east-west",pair="east-pair",reason="active-dead"\} 1/,
    );
    t.match(
      metrics,
      /swanpair_side_active\{connection="east-west",pair="east-pair",member="east-b"\} 1/,
    );
    t.match(metrics, /swanpair_ec2_calls\{operation="ReplaceRoute",outcome="ok"\} 12/);

    // east-a comes back: without preemption the routes stay on east-b.
    await ec2.sdk.send(
      new StartInstancesCommand({ InstanceIds: [appliance(seeded, "east-a").instanceId] }),
    );
    await agents.up("east-a");
    await ticks(ctl, FAST.rise + 3);
    t.ok(allOn((await eastSide(seeded)).enis, eniB), "no preemption: routes stay on east-b");
    t.equal(await ctl.stop(), 0, "SIGTERM: clean exit");
  },
);

t.test("two controllers that see different things never split a side's routes", async (t) => {
  const { seeded, agents, file, fleet } = await world(t);
  // X sees every agent; Y cannot reach east-a's agent (a partition between Y and east-a).
  const x = await startController(t, ["--config", await file(undefined, "x.yaml")]);
  const yFile = await file((tree) => {
    const a = tree.appliances.find((ap: { name: string }) => ap.name === "east-a");
    a.agent = `unix://${fleet.appliances[0]?.agent.kind === "unix" ? "/nonexistent/east-a.sock" : ""}`;
  }, "y.yaml");
  const y = await startController(t, ["--config", yFile]);
  await Promise.all([ticks(x, 3), ticks(y, 3)]);
  const eniA = appliance(seeded, "east-a").eni;
  const eniB = appliance(seeded, "east-b").eni;
  t.ok(
    allOn((await eastSide(seeded)).enis, eniA),
    "Y alone thinking east-a unreachable moves nothing",
  );

  // east-b's probe through the routes fails: for Y that is east-a's second signal, for X
  // (which hears east-a fine) only a reason to call east-a unready.
  agents.setPaths("east-b", { "east-west": "down" });
  await waitFor("Y moves the routes", async () =>
    allOn((await eastSide(seeded)).enis, eniB) ? true : undefined,
  );
  // Watch both for a while: every read must show the side whole, on east-b.
  for (let i = 0; i < 20; i++) {
    const side = await eastSide(seeded);
    t.ok(allOn(side.enis, eniB), `read ${i}: not split`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const [xs, ys] = [await x.status(), await y.status()];
  t.equal(xs.sides[0].active, "east-b", "X follows the newer fence");
  t.equal(ys.sides[0].active, "east-b");
  t.same(
    (await eastSide(seeded)).fences,
    ["east-b@1", "east-b@1", "east-b@1"],
    "one decision, one epoch",
  );
  t.ok(
    x.log.some((l) => l.msg === "newer decision on the route tables; standing down"),
    "X stood down",
  );
  t.notOk(
    x.log.some((l) => l.msg === "routes written"),
    "X wrote nothing",
  );
});

t.test(
  "a controller killed mid-failover converges after restart, finishing the same decision",
  async (t) => {
    const { seeded, agents, file } = await world(t);
    const eniB = appliance(seeded, "east-b").eni;
    // The first 8 writes (the client's concurrency) are slow; every later attempt is dropped
    // unanswered, so the failover cannot finish before the kill and nothing lands after it.
    proxy.inject(
      "ReplaceRoute",
      ...Array.from({ length: 8 }, () => ({ kind: "latency" as const, ms: 1500 })),
      ...Array.from({ length: 200 }, () => ({ kind: "drop" as const })),
    );
    const slow = await startController(t, ["--config", await file(throughProxy, "slow.yaml")]);
    await ticks(slow, 3);
    await agents.down("east-a");
    await stopInstance(seeded, "east-a");
    await waitFor("the fence and a first route", async () => {
      const side = await eastSide(seeded);
      return side.fences.every((f) => f === "east-b@1") && side.enis.includes(eniB)
        ? true
        : undefined;
    });
    await slow.kill();
    await new Promise((r) => setTimeout(r, 2000)); // let requests already sent land
    const partial = await eastSide(seeded);
    const moved = partial.enis.filter((e) => e === eniB).length;
    t.ok(moved >= 1 && moved < 12, `killed mid-failover: ${moved} of 12 routes moved`);

    const restarted = await startController(t, ["--config", await file()]);
    await waitFor("convergence", async () =>
      allOn((await eastSide(seeded)).enis, eniB) ? true : undefined,
    );
    t.same(
      (await eastSide(seeded)).fences,
      ["east-b@1", "east-b@1", "east-b@1"],
      "same decision finished",
    );
    t.ok(
      restarted.log.some((l) => l.msg === "adopted" && l.source === "fence"),
      "took over from the fence",
    );
    t.notOk(
      restarted.log.some((l) => l.msg === "failover"),
      "no second failover",
    );
  },
);

t.test(
  "a tick that read the tables while its side was being written does not write the side again",
  async (t) => {
    const { seeded, agents, file } = await world(t);
    const ctl = await startController(t, ["--config", await file(throughProxy)]);
    await ticks(ctl, 3);
    // Route tables are read at once but answered 700 ms late: the tick after the failover's
    // decision reads them before the write lands and decides after it has ended, seeing all
    // 12 routes still on east-a.
    proxy.rule((r) =>
      r.action === "DescribeRouteTables" ? { kind: "slow-answer", ms: 700 } : undefined,
    );
    await agents.down("east-a");
    await stopInstance(seeded, "east-a");
    const eniB = appliance(seeded, "east-b").eni;
    await waitFor("failover to east-b", async () =>
      allOn((await eastSide(seeded)).enis, eniB) ? true : undefined,
    );
    await ticks(ctl, 4);
    const writes = proxy
      .requests()
      .filter((r) => r.action === "CreateTags" || r.action === "ReplaceRoute")
      .map((r) => r.action);
    t.same(
      {
        fence: writes.filter((a) => a === "CreateTags").length,
        routes: writes.filter((a) => a === "ReplaceRoute").length,
      },
      { fence: 1, routes: 12 },
      "one fence write and one write per route",
    );
    t.ok(
      ctl.log.some((l) => l.why === "stale read"),
      "a tick that read mid-write left the side to a later tick",
    );
    t.same((await eastSide(seeded)).fences, ["east-b@1", "east-b@1", "east-b@1"]);
  },
);

t.test(
  "failover converges through throttling, 500s, latency and dropped connections, with bounded calls",
  async (t) => {
    const { seeded, agents, file } = await world(t, { policy: { ...FAST, intervalMs: 500 } });
    const ctl = await startController(t, ["--config", await file(throughProxy)]);
    await ticks(ctl, 3);
    proxy.reset();
    // Each action its own bucket of 6, refilled at 4/s: 12 routes cannot go out at once.
    proxy.throttle({ size: 6, refillPerSecond: 4 });
    proxy.inject(
      "ReplaceRoute",
      { kind: "server-error" },
      { kind: "drop" },
      { kind: "latency", ms: 2500 },
      { kind: "server-error" },
      { kind: "drop" },
    );
    proxy.inject("CreateTags", { kind: "server-error" }, { kind: "drop" });
    await agents.down("east-a");
    await stopInstance(seeded, "east-a");
    const eniB = appliance(seeded, "east-b").eni;
    await waitFor(
      "convergence",
      async () => (allOn((await eastSide(seeded)).enis, eniB) ? true : undefined),
      60_000,
    );
    for (const kind of ["bucket-empty", "server-error", "drop", "latency"] as const)
      t.ok(proxy.count(undefined, kind) > 0, `${kind} happened (${proxy.count(undefined, kind)})`);
    const replace = proxy.count("ReplaceRoute");
    // 12 routes, at most 6 attempts each, is the ceiling of one write; a failed write is
    // redone on the next tick only for the routes still drifting.
    t.ok(replace >= 12 && replace <= 12 * 6, `ReplaceRoute requests: ${replace}`);
    t.equal(proxy.count("CreateRoute"), 0, "no route was missing, so none was created");
    t.same((await eastSide(seeded)).fences, ["east-b@1", "east-b@1", "east-b@1"], "one decision");
  },
);

t.test(
  "failover --to moves a side by hand, waits for EC2, and the controller adopts it",
  async (t) => {
    const { seeded, agents, file } = await world(t);
    const path = await file();
    const ctl = await startController(t, ["--config", path]);
    await ticks(ctl, 3);
    const eniB = appliance(seeded, "east-b").eni;

    const unknown = await swanpair("failover", "nope", "--to", "east-b", "--config", path);
    t.equal(unknown.code, 1);
    t.match(unknown.stderr, /no connection named nope.*SWP_ERR_FAILOVER_REFUSED/);
    const stranger = await swanpair("failover", "east-west", "--to", "nobody", "--config", path);
    t.match(stranger.stderr, /nobody is not a member of a pair of connection east-west/);
    agents.setTunnels("east-b", { "west-a": "down", "west-b": "down" });
    const unfit = await swanpair("failover", "east-west", "--to", "east-b", "--config", path);
    t.equal(unfit.code, 1);
    t.match(unfit.stderr, /east-b is not fit.*tunnel-down.*--force/);
    t.same((await eastSide(seeded)).fences, ["-@-", "-@-", "-@-"], "refused: nothing written");

    agents.setTunnels("east-b", { "west-a": "up", "west-b": "up" });
    const moved = await swanpair("failover", "east-west", "--to", "east-b", "--config", path);
    t.equal(moved.code, 0, moved.stderr);
    t.match(
      moved.stdout,
      /east-west\/east-pair: east-a → east-b \(epoch 1, 12 route\(s\) written\)/,
    );
    t.ok(allOn((await eastSide(seeded)).enis, eniB), "converged when the command returned");
    await ticks(ctl, 4);
    t.ok(
      allOn((await eastSide(seeded)).enis, eniB),
      "the controller keeps the operator's decision",
    );
    t.equal((await ctl.status()).sides[0].active, "east-b");
    const again = await swanpair("failover", "east-west", "--to", "east-b", "--config", path);
    t.match(again.stdout, /already on east-b/);
  },
);

t.test(
  "co-located controllers: only the member that is not the target claims, and never back",
  async (t) => {
    const { seeded, agents, file } = await world(t);
    const eniA = appliance(seeded, "east-a").eni;
    const eniB = appliance(seeded, "east-b").eni;
    const path = await file();
    // east-b's controller cannot reach east-a's agent: one signal, so it must not claim.
    const bFile = await file((tree) => {
      const a = tree.appliances.find((ap: { name: string }) => ap.name === "east-a");
      a.agent = "unix:///nonexistent/east-a.sock";
    }, "b.yaml");
    const onA = await startController(t, ["--config", path, "--self", "east-a"]);
    const onB = await startController(t, ["--config", bFile, "--self", "east-b"]);
    await Promise.all([ticks(onA, FAST.fall + 3), ticks(onB, FAST.fall + 3)]);
    t.ok(allOn((await eastSide(seeded)).enis, eniA), "a partition alone moves nothing");
    t.match((await onB.status()).sides[0].members[0], { name: "east-a", status: "unready" });
    t.equal((await onB.status()).mode, "co-located");

    // east-a's instance dies, and its controller with it.
    await onA.kill();
    await agents.down("east-a");
    await stopInstance(seeded, "east-a");
    await waitFor("east-b claims", async () =>
      allOn((await eastSide(seeded)).enis, eniB) ? true : undefined,
    );
    t.same((await eastSide(seeded)).fences, ["east-b@1", "east-b@1", "east-b@1"]);

    // east-a comes back with its controller: it is not the target, but the target is alive.
    await ec2.sdk.send(
      new StartInstancesCommand({ InstanceIds: [appliance(seeded, "east-a").instanceId] }),
    );
    await agents.up("east-a");
    const back = await startController(t, ["--config", path, "--self", "east-a"]);
    await ticks(back, FAST.rise + 4);
    t.ok(allOn((await eastSide(seeded)).enis, eniB), "the recovered member does not claim back");
    t.same((await eastSide(seeded)).fences, ["east-b@1", "east-b@1", "east-b@1"]);
    t.notOk(
      back.log.some((l) => l.msg === "routes written"),
      "it wrote nothing",
    );
    const plan = await swanpair("plan", "--config", path, "--self", "west-a");
    t.equal(plan.code, 0, plan.stderr);
    t.match(plan.stdout, /no changes/, "west's side is fine as it is");
    const bad = await swanpair("controller", "run", "--config", path, "--self", "nobody");
    t.equal(bad.code, 2);
    t.match(bad.stderr, /--self nobody: not a member of any pair/);
  },
);

t.test(
  "swap mode: the controller prepares member tables and fails over by moving subnets",
  async (t) => {
    const { seeded, agents, file } = await world(t, {
      east: { tables: 0, swap: { groups: 2, subnetsPerGroup: 2, prepared: false } },
    });
    const [east] = seeded.vpcs;
    if (!east) throw new Error("seed: east expected");
    const eniA = appliance(seeded, "east-a").eni;
    const eniB = appliance(seeded, "east-b").eni;
    /** Per member table: where its routes to west point; per swap subnet: whose table it is on. */
    const swapState = async () => {
      const ids = east.swap.flatMap((g) => Object.values(g.tables));
      const out = await ec2.sdk.send(new DescribeRouteTablesCommand({ RouteTableIds: ids }));
      const owner = new Map(
        east.swap.flatMap((g) => Object.entries(g.tables).map(([m, id]) => [id, m])),
      );
      const prepared: Record<string, string[]> = {};
      const subnets: Record<string, string> = {};
      for (const table of out.RouteTables ?? []) {
        const member = owner.get(table.RouteTableId ?? "") ?? "?";
        prepared[member] = [
          ...(prepared[member] ?? []),
          ...(table.Routes ?? [])
            .filter((r) => r.DestinationCidrBlock?.match(/^10\.[2-5]\./))
            .map((r) => r.NetworkInterfaceId ?? "none"),
        ];
        for (const a of table.Associations ?? []) if (a.SubnetId) subnets[a.SubnetId] = member;
      }
      return { prepared, subnets };
    };
    t.same(
      (await swapState()).prepared["east-b"] ?? [],
      [],
      "unprepared: east-b's tables have no managed routes",
    );

    const ctl = await startController(t, ["--config", await file()]);
    await waitFor("prepared", async () => {
      const { prepared } = await swapState();
      const ok = (m: string, eni: string) =>
        prepared[m]?.length === 8 && prepared[m]?.every((e) => e === eni);
      return ok("east-a", eniA) && ok("east-b", eniB) ? true : undefined;
    });
    t.same(Object.values((await swapState()).subnets), ["east-a", "east-a", "east-a", "east-a"]);

    await agents.down("east-a");
    await stopInstance(seeded, "east-a");
    const moved = await waitFor("subnets on east-b", async () => {
      const { subnets } = await swapState();
      const on = Object.values(subnets);
      return on.length === 4 && on.every((m) => m === "east-b") ? subnets : undefined;
    });
    t.equal(Object.keys(moved).length, 4);
    const status = await waitFor("status", async () => {
      const s = await ctl.status();
      return s.sides[0].active === "east-b" && s.sides[0].drift.length === 0 ? s : undefined;
    });
    t.equal(status.sides[0].routes, 4, "a swap side's units are its subnets");
    const metrics = await ctl.metrics();
    t.match(
      metrics,
      /swanpair_ec2_calls\{operation="ReplaceRouteTableAssociation",outcome="ok"\} 4/,
    );
    t.notMatch(metrics, /operation="ReplaceRoute",outcome="ok"/, "failover wrote no route");
    t.match(metrics, /swanpair_swap_prepares_total\{result="ok"\} 1/);

    const prep = await swanpair("prepare", "--config", await file(undefined, "p.yaml"), "--json");
    t.equal(prep.code, 0, prep.stderr);
    t.match(JSON.parse(prep.stdout), {
      ok: true,
      created: 0,
      replaced: 0,
      skipped: 16,
      failed: [],
    });
  },
);

t.test("failover --to stops when a newer decision overtakes it", async (t) => {
  const { seeded, file } = await world(t);
  const path = await file(throughProxy);
  proxy.inject(
    "ReplaceRoute",
    ...Array.from({ length: 12 }, () => ({ kind: "latency" as const, ms: 1000 })),
  );
  const running = swanpair("failover", "east-west", "--to", "east-b", "--config", path);
  await waitFor("its fence", async () =>
    (await eastSide(seeded)).fences.includes("east-b@1") ? true : undefined,
  );
  const east = seeded.vpcs[0]?.routeTables ?? [];
  await writeFence(ec2, east, EAST_SIDE, {
    active: "east-a",
    epoch: 5,
    at: new Date().toISOString(),
  });
  const result = await running;
  t.equal(result.code, 1);
  t.match(
    result.stderr,
    /overtaken: a newer decision \(epoch 5\) put east-west\/east-pair on east-a.*SWP_ERR_FAILOVER_OVERTAKEN/,
  );
});

t.test(
  "with no healthy target nothing moves, and the alarm shows in status, metrics and log",
  async (t) => {
    const { seeded, agents, file } = await world(t);
    const ctl = await startController(t, ["--config", await file()]);
    await ticks(ctl, 3);
    // east-a is dead (agent gone, instance stopped); east-b answers but its tunnels are down.
    agents.setTunnels("east-b", { "west-a": "down", "west-b": "down" });
    await agents.down("east-a");
    await stopInstance(seeded, "east-a");
    const s = await waitFor("the alarm", async () => {
      const st = await ctl.status();
      return st.sides[0].alarm ? st : undefined;
    });
    t.equal(s.sides[0].alarm.reason, "active-dead");
    t.ok(
      allOn((await eastSide(seeded)).enis, appliance(seeded, "east-a").eni),
      "routes stay on the dead member",
    );
    t.same((await eastSide(seeded)).fences, ["-@-", "-@-", "-@-"], "nothing written");
    t.match(await ctl.metrics(), /swanpair_alarm\{connection="east-west",pair="east-pair"\} 1/);
    const alarm = ctl.log.find((l) => l.msg === "no healthy target");
    t.match(alarm, { reason: "active-dead", blocked: { "east-b": "unready" } });

    // east-b's tunnels come back: the alarm clears with the move.
    agents.setTunnels("east-b", { "west-a": "up", "west-b": "up" });
    await waitFor("failover", async () =>
      allOn((await eastSide(seeded)).enis, appliance(seeded, "east-b").eni) ? true : undefined,
    );
    await waitFor("alarm cleared", async () =>
      (await ctl.status()).sides[0].alarm === null ? true : undefined,
    );
    t.ok(ctl.log.some((l) => l.msg === "alarm-cleared"));
  },
);

t.test(
  "SIGHUP reloads the fleet file; an invalid one is refused and the running fleet stays",
  async (t) => {
    const { file } = await world(t);
    const path = await file();
    const ctl = await startController(t, ["--config", path]);
    await ticks(ctl, 2);
    t.match(await ctl.status(), { generation: 1, intervalMs: FAST.intervalMs });

    await file((tree) => {
      tree.failover.intervalMs = 300;
    });
    ctl.child.kill("SIGHUP");
    await waitFor("generation 2", async () =>
      (await ctl.status()).generation === 2 ? true : undefined,
    );
    t.equal((await ctl.status()).intervalMs, 300);
    t.ok(ctl.log.some((l) => l.msg === "fleet reloaded"));

    await file((tree) => {
      tree.pairs[0].members = ["east-a"];
    });
    ctl.child.kill("SIGHUP");
    const refused = await waitFor("the refusal", async () =>
      ctl.log.find((l) => l.msg === "fleet reload rejected; the running fleet stays"),
    );
    t.match(JSON.stringify(refused.issues), /pairs\[0\]\.members/);
    await ticks(ctl, 2);
    t.match(
      await ctl.status(),
      { generation: 2, intervalMs: 300 },
      "still running the last good fleet",
    );
    t.equal(await ctl.stop(), 0);
  },
);
