import { readFile } from "node:fs/promises";
import t from "tap";
import {
  checkFleetAgainstEc2,
  type Ec2Facts,
} from "../../control-plane/src/checks/fleet-vs-ec2.ts";
import { decide, initialState } from "../../control-plane/src/decide/engine.ts";
import { sidesOf } from "../../control-plane/src/decide/sides.ts";
import type {
  EngineState,
  MemberObservation,
  ObservedRoute,
  WriteRoutes,
} from "../../control-plane/src/decide/types.ts";
import type { TableRoute } from "../../control-plane/src/ec2/route-tables.ts";
import type { SubnetState } from "../../control-plane/src/ec2/swap.ts";
import { loadFleetText } from "../../control-plane/src/fleet/load.ts";
import {
  fleetTables,
  managedRoutes,
  preparedRoutes,
  routesByTable,
} from "../../control-plane/src/fleet/routes.ts";
import type { Fleet } from "../../control-plane/src/fleet/types.ts";
import { controllerPolicy } from "../../control-plane/src/iam/policy.ts";
import { pageExamples } from "../helpers/doc-examples.ts";

/**
 * Swap mode without EC2: the documented example resolves to association units the decision
 * engine moves like routes, its member tables carry the fence, and the EC2 check and the IAM
 * policy judge it. The EC2 side is test/integration/swap-routes.test.ts.
 */

const ROOT = new URL("../../", import.meta.url);

/** The example under "Swap mode" in docs/fleet-config.md. */
async function swapYaml(): Promise<string> {
  const found = (await pageExamples("fleet-config.md")).find((e) => e.heading === "Swap mode");
  if (!found) throw new Error("docs/fleet-config.md has no example under Swap mode");
  return found.yaml;
}

async function swapExample(): Promise<Fleet> {
  const r = await loadFleetText(await swapYaml());
  if (!r.ok) throw new Error(`the swap example does not load: ${JSON.stringify(r.issues)}`);
  if (r.warnings.length > 0) throw new Error(`warnings: ${JSON.stringify(r.warnings)}`);
  return r.fleet;
}

t.test("the documented swap example resolves, tables in member order", async (t) => {
  const fleet = await swapExample();
  t.same(fleet.vpcs[0]?.swap, [
    { subnets: ["subnet-0a1", "subnet-0a2"], tables: { a1: "rtb-0a3", a2: "rtb-0a4" } },
  ]);
  t.notOk("swap" in (fleet.vpcs[1] ?? {}), "absent where not configured");
  t.same(fleetTables(fleet), ["rtb-0a1", "rtb-0a3", "rtb-0a4", "rtb-0b1"]);

  // Keys in the file's order do not matter; nor does routeTables, when swap is given.
  const r = await loadFleetText(
    (await swapYaml())
      .replace("tables: { a1: rtb-0a3, a2: rtb-0a4 }", "tables: { a2: rtb-0a4, a1: rtb-0a3 }")
      .replace(
        "    routeTables: [rtb-0a1]                     # in place, as before (may be left out)\n",
        "",
      ),
  );
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  t.same(Object.entries(r.fleet.vpcs[0]?.swap?.[0]?.tables ?? {}), [
    ["a1", "rtb-0a3"],
    ["a2", "rtb-0a4"],
  ]);
  t.same(r.fleet.vpcs[0]?.routeTables, [], "a swap-only VPC");
});

t.test("managed units: in-place routes, then one association per subnet", async (t) => {
  const fleet = await swapExample();
  const members = [
    { member: "a1", eni: "eni-0a1", table: "rtb-0a3" },
    { member: "a2", eni: "eni-0a2", table: "rtb-0a4" },
  ];
  const base = { connection: "a-b", pair: "pair-a" };
  t.same(managedRoutes(fleet), [
    { ...base, routeTable: "rtb-0a1", destination: "10.2.0.0/16" },
    {
      ...base,
      kind: "association",
      routeTable: "subnet-0a1",
      destination: "association",
      subnet: "subnet-0a1",
      members,
    },
    {
      ...base,
      kind: "association",
      routeTable: "subnet-0a2",
      destination: "association",
      subnet: "subnet-0a2",
      members,
    },
    { connection: "a-b", pair: "pair-b", routeTable: "rtb-0b1", destination: "10.1.0.0/16" },
  ]);
  t.same(
    [...routesByTable(fleet).keys()],
    ["rtb-0a1", "rtb-0b1"],
    "associations are no table's routes",
  );
  t.same(
    preparedRoutes(fleet).map((p) => [p.route.routeTable, p.route.destination, p.member, p.eni]),
    [
      ["rtb-0a3", "10.2.0.0/16", "a1", "eni-0a1"],
      ["rtb-0a4", "10.2.0.0/16", "a2", "eni-0a2"],
    ],
  );
  const side = sidesOf(fleet).find((s) => s.pair === "pair-a");
  t.same(
    side?.routeTables,
    ["rtb-0a1", "rtb-0a3", "rtb-0a4"],
    "the fence goes on the member tables too",
  );
  t.same(sidesOf(fleet).find((s) => s.pair === "pair-b")?.routeTables, ["rtb-0b1"]);
});

t.test(
  "the engine, unchanged, fails a swap side over: associations move like routes",
  async (t) => {
    const fleet: Fleet = {
      ...(await swapExample()),
      failover: { intervalMs: 1000, fall: 2, rise: 2, holdDownMs: 0, preempt: false },
    };
    const healthy: MemberObservation = {
      agentReachable: true,
      tunnels: { "a-b": "up" },
      pathProbes: { "a-b": true },
      ec2: "running",
    };
    const dead: MemberObservation = { agentReachable: false, tunnels: {}, ec2: "stopped" };
    // EC2 as the engine sees it: every unit of pair-a on a1, pair-b's on b1.
    const eni = new Map(
      managedRoutes(fleet).map((r) => [
        `${r.routeTable} ${r.destination}`,
        r.pair === "pair-a" ? "eni-0a1" : "eni-0b1",
      ]),
    );
    const observe = (pair: string): ObservedRoute[] =>
      managedRoutes(fleet)
        .filter((r) => r.pair === pair)
        .map((r) => ({
          routeTable: r.routeTable,
          destination: r.destination,
          eni: eni.get(`${r.routeTable} ${r.destination}`) ?? null,
        }));

    let state: EngineState = initialState;
    let write: WriteRoutes | undefined;
    for (let tick = 0; tick < 10 && !write; tick++) {
      const r = decide(fleet, state, {
        now: 1_000_000 + tick * 1000,
        members: { a1: tick === 0 ? healthy : dead, a2: healthy, b1: healthy, b2: healthy },
        sides: ["pair-a", "pair-b"].map((pair) => ({
          connection: "a-b",
          pair,
          routes: observe(pair),
          fences: [],
        })),
      });
      state = r.state;
      write = r.actions.find((a) => a.pair === "pair-a");
    }
    if (!write) throw new Error("no failover");
    t.equal(write.target, "a2");
    t.equal(write.eni, "eni-0a2");
    t.same(write.routeTables, ["rtb-0a1", "rtb-0a3", "rtb-0a4"]);
    t.same(
      write.routes.map((r) => [r.kind ?? "route", r.routeTable]),
      [
        ["route", "rtb-0a1"],
        ["association", "subnet-0a1"],
        ["association", "subnet-0a2"],
      ],
      "every unit drifted, associations carried whole to the adapter",
    );

    // The write landed (each subnet on a2's table): nothing more to do.
    for (const r of write.routes) eni.set(`${r.routeTable} ${r.destination}`, "eni-0a2");
    const fence = { active: "a2", epoch: write.epoch, at: write.decidedAt };
    const after = decide(fleet, state, {
      now: 1_000_000 + 20_000,
      members: { a1: dead, a2: healthy, b1: healthy, b2: healthy },
      sides: ["pair-a", "pair-b"].map((pair) => ({
        connection: "a-b",
        pair,
        routes: observe(pair),
        fences: pair === "pair-a" ? [fence] : [],
      })),
    });
    t.same(after.actions, [], "converged");
  },
);

/** The swap example as EC2 would describe it: consistent, prepared, member tables alike. */
function facts(fleet: Fleet): Ec2Facts & { subnets: Map<string, SubnetState> } {
  const vpcOf = new Map(
    fleet.vpcs.flatMap((v) =>
      [...v.routeTables, ...Object.values(v.swap?.[0]?.tables ?? {})].map((id) => [id, v.id]),
    ),
  );
  const common: TableRoute[] = [
    { destination: "0.0.0.0/0", target: { kind: "other", target: "igw-1" } },
  ];
  const routesOf = (id: string): TableRoute[] => [
    ...common,
    ...preparedRoutes(fleet)
      .filter((p) => p.route.routeTable === id)
      .map((p) => ({
        destination: p.route.destination,
        target: { kind: "eni" as const, eni: p.eni, blackhole: false },
      })),
  ];
  return {
    tables: fleetTables(fleet).map((id) => ({
      id,
      vpcId: vpcOf.get(id) ?? "",
      fleetTagged: true,
      subnets: id === "rtb-0a3" ? ["subnet-0a1", "subnet-0a2"] : [],
      routes: routesOf(id),
    })),
    missingTables: [],
    instances: new Map(
      fleet.appliances.map((a, i) => [
        a.instanceId,
        {
          state: "running",
          az: i % 2 === 0 ? "us-east-1a" : "us-east-1b",
          vpcId: fleet.vpcs.find((v) => v.name === a.vpc)?.id,
          enis: [{ eni: a.eni, sourceDestCheck: false }],
        },
      ]),
    ),
    subnets: new Map(
      ["subnet-0a1", "subnet-0a2"].map((id) => [id, { vpcId: "vpc-0123", fleetTagged: true }]),
    ),
  };
}

t.test("the EC2 check judges swap groups", async (t) => {
  const fleet = await swapExample();
  type F = ReturnType<typeof facts>;
  const table = (f: F, id: string) =>
    f.tables.find((tb) => tb.id === id) as F["tables"][number] & {
      routes: TableRoute[];
      subnets: string[];
    };
  const cases: Array<[string, (f: F) => void, string[], string[]]> = [
    ["consistent", () => {}, [], []],
    [
      "a member table missing",
      (f) => {
        f.tables = f.tables.filter((tb) => tb.id !== "rtb-0a4");
        f.missingTables = ["rtb-0a4"];
      },
      ["vpcs[0].swap[0].tables.a2 route-table-missing"],
      [],
    ],
    [
      "a member table untagged",
      (f) => void Object.assign(table(f, "rtb-0a3"), { fleetTagged: false }),
      ["vpcs[0].swap[0].tables.a1 route-table-untagged"],
      [],
    ],
    [
      "a member table of another VPC",
      (f) => void Object.assign(table(f, "rtb-0a3"), { vpcId: "vpc-0456" }),
      ["vpcs[0].swap[0].tables.a1 route-table-vpc"],
      [],
    ],
    [
      "a subnet EC2 does not know",
      (f) => void f.subnets.delete("subnet-0a2"),
      ["vpcs[0].swap[0].subnets[1] subnet-missing"],
      [],
    ],
    [
      "a subnet of another VPC",
      (f) => void f.subnets.set("subnet-0a1", { vpcId: "vpc-0456", fleetTagged: true }),
      ["vpcs[0].swap[0].subnets[0] subnet-vpc"],
      [],
    ],
    [
      "an untagged subnet",
      (f) => void f.subnets.set("subnet-0a1", { vpcId: "vpc-0123", fleetTagged: false }),
      ["vpcs[0].swap[0].subnets[0] subnet-untagged"],
      [],
    ],
    [
      "a subnet on neither member table",
      (f) => {
        table(f, "rtb-0a3").subnets = ["subnet-0a1"];
        table(f, "rtb-0a1").subnets = ["subnet-0a2"];
      },
      [],
      ["vpcs[0].swap[0].subnets[1] swap-subnet-association"],
    ],
    [
      "a member table not prepared",
      (f) => {
        const routes = table(f, "rtb-0a4").routes;
        routes.splice(
          routes.findIndex((r) => r.destination === "10.2.0.0/16"),
          1,
        );
      },
      [],
      ["vpcs[0].swap[0].tables.a2 swap-unprepared"],
    ],
    [
      "member tables that differ in an unmanaged route",
      (f) =>
        void table(f, "rtb-0a4").routes.push({
          destination: "192.168.0.0/16",
          target: { kind: "other", target: "pcx-1" },
        }),
      [],
      ["vpcs[0].swap[0].tables swap-tables-differ"],
    ],
  ];
  for (const [name, change, errors, warnings] of cases) {
    const f = facts(fleet);
    change(f);
    const r = checkFleetAgainstEc2(fleet, f);
    const brief = (issues: { path: string; rule: string }[]) =>
      issues.map((i) => `${i.path} ${i.rule}`);
    t.same(brief(r.errors), errors, `${name}: errors`);
    t.same(brief(r.warnings), warnings, `${name}: warnings`);
  }
  const f = facts(fleet);
  table(f, "rtb-0a4").routes[1] = {
    destination: "10.2.0.0/16",
    target: { kind: "eni", eni: "eni-0a1", blackhole: false },
  };
  table(f, "rtb-0a4").routes.push({
    destination: "192.168.0.0/16",
    target: { kind: "other", target: "pcx-1" },
  });
  const messages = checkFleetAgainstEc2(fleet, f).warnings.map((w) => w.message);
  t.match(messages[0], /rtb-0a4 is not prepared for a2 \(eni-0a2\): 10\.2\.0\.0\/16 -> eni-0a1/);
  t.match(messages[1], /rtb-0a3 and rtb-0a4 differ .*only in rtb-0a4: 192\.168\.0\.0\/16 -> pcx-1/);
  // Without subnet facts (a caller that did not read them), the subnets are not judged.
  const { subnets: _, ...withoutSubnets } = facts(fleet);
  t.same(checkFleetAgainstEc2(fleet, withoutSubnets), { errors: [], warnings: [] });
});

t.test("docs/iam-policy.md shows the swap statement iam-policy prints", async (t) => {
  const fleet = await swapExample();
  const doc = await readFile(new URL("docs/iam-policy.md", ROOT), "utf8");
  const shown = [...doc.matchAll(/```json\n([\s\S]*?)\n```/g)][1]?.[1];
  const statement = controllerPolicy(fleet).Statement.find(
    (s) => s.Sid === "MoveFleetSubnetsBetweenFleetTables",
  );
  t.equal(shown, JSON.stringify(statement, null, 2));
});
