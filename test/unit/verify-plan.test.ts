import t from "tap";
import { planVerify, type Step } from "../../control-plane/src/checks/verify-plan.ts";
import type { InstanceState } from "../../control-plane/src/ec2/instances.ts";
import type {
  ManagedRouteState,
  ManagedTables,
  RouteTarget,
} from "../../control-plane/src/ec2/route-tables.ts";
import { fenceKey } from "../../control-plane/src/fleet/fence-tags.ts";
import { managedRoutes } from "../../control-plane/src/fleet/routes.ts";
import type { Fleet } from "../../control-plane/src/fleet/types.ts";
import { twoPairFleet } from "../fixtures/fleets.ts";

/**
 * What verify writes and what it judges without writing. twoPairFleet: pa (a1, a2) manages
 * 10.2.0.0/16 in rtb-a1 and rtb-a2, pb (b1, b2) manages 10.1.0.0/16 in rtb-b.
 */

const fleet = twoPairFleet({
  intervalMs: 500,
  fall: 3,
  rise: 3,
  holdDownMs: 30_000,
  preempt: false,
});
const eni = (name: string): RouteTarget => ({ kind: "eni", eni: `eni-${name}`, blackhole: false });
const FENCE = { active: "a1", epoch: 4, at: "2026-01-01T00:00:00.000Z" };

function view(
  targets: Record<string, RouteTarget>,
  over: Partial<ManagedTables> = {},
  f: Fleet = fleet,
): ManagedTables {
  const routes: ManagedRouteState[] = managedRoutes(f).map((r) => ({
    ...r,
    target: targets[r.routeTable] ?? { kind: "missing" },
  }));
  const vpcOf = new Map(f.vpcs.flatMap((v) => v.routeTables.map((id) => [id, v.id])));
  return {
    tables: [...vpcOf].map(([id, vpcId]) => ({
      id,
      vpcId,
      fleetTagged: true,
      // rtb-a1 carries pa's fence; the others none yet.
      fences: id === "rtb-a1" ? { sides: { [fenceKey("ab", "pa")]: FENCE } } : { sides: {} },
    })),
    missingTables: [],
    routes,
    ...over,
  };
}

function instances(
  change: (m: Map<string, Pick<InstanceState, "sourceDestCheck" | "enis">>) => void = () => {},
) {
  const m = new Map(
    fleet.appliances.map((a) => [
      a.instanceId,
      { sourceDestCheck: false, enis: [{ eni: a.eni, sourceDestCheck: false }] },
    ]),
  );
  change(m);
  return m;
}

/** "subject write" or "subject STATUS", for comparing plans at a glance. */
const brief = <W>(steps: Step<W>[]) =>
  steps.map((s) =>
    s.kind === "write" ? `${s.subject} write` : `${s.row.subject} ${s.row.status}`,
  );

t.test(
  "fences: a DryRun CreateTags of a side's fence on every table a side routes through",
  async (t) => {
    const plan = planVerify(fleet, view({}), instances());
    t.same(
      brief(plan.fences),
      ["rtb-a1 write", "rtb-a2 write", "rtb-b write"],
      "with or without a fence on the table: DryRun proves the right either way",
    );
    const writes = plan.fences.flatMap((s) => (s.kind === "write" ? [s.write] : []));
    t.same(
      writes.map((w) => `${w.table} ${w.side.connection}/${w.side.pair}`),
      ["rtb-a1 ab/pa", "rtb-a2 ab/pa", "rtb-b ab/pb"],
      "each table's write names a side that routes through it",
    );
    for (const w of writes)
      t.notSame(w.fence, FENCE, `${w.table}: verify does not write back a fence it read`);
    for (const s of plan.fences)
      if (s.kind === "write") t.match(s.done, /DryRun/, `${s.subject}: the row says DryRun`);
  },
);

t.test("fences: SKIP only for a table no connection side routes through", async (t) => {
  // vc has a table and no pair in any connection: nothing would ever fence it.
  const withSpare: Fleet = {
    ...fleet,
    vpcs: [
      ...fleet.vpcs,
      { name: "vc", id: "vpc-c", cidrs: ["10.3.0.0/16"], routeTables: ["rtb-c"] },
    ],
  };
  const plan = planVerify(withSpare, view({}, {}, withSpare), instances());
  t.same(brief(plan.fences), ["rtb-a1 write", "rtb-a2 write", "rtb-b write", "rtb-c SKIP"]);
  t.match(plan.fences[3], { row: { reason: /no connection side routes through this table/ } });
});

t.test("routes: one per table, only onto the member ENI it already points at", async (t) => {
  const plan = planVerify(
    fleet,
    view({
      "rtb-a1": eni("a2"),
      "rtb-a2": eni("b1"), // another pair's member: not pa's to re-assert
      "rtb-b": { kind: "other", target: "igw-1" },
    }),
    instances(),
  );
  t.same(brief(plan.routes), ["rtb-a1 write", "rtb-a2 SKIP", "rtb-b SKIP"]);
  const [first] = plan.routes;
  t.same(first?.kind === "write" && first.write, {
    route: { connection: "ab", pair: "pa", routeTable: "rtb-a1", destination: "10.2.0.0/16" },
    eni: "eni-a2",
  });
});

t.test("a table EC2 does not know fails both writes", async (t) => {
  const missing = view({ "rtb-a1": eni("a1") });
  missing.tables = missing.tables.filter((tb) => tb.id !== "rtb-a1");
  missing.missingTables = ["rtb-a1"];
  const plan = planVerify(fleet, missing, instances());
  t.same(brief(plan.fences).slice(0, 1), ["rtb-a1 FAIL"]);
  t.same(brief(plan.routes).slice(0, 1), ["rtb-a1 FAIL"]);
});

t.test("SourceDestCheck: each flag on fails with the command that turns it off", async (t) => {
  const plan = planVerify(
    fleet,
    view({}),
    instances((m) => {
      m.set("i-a2", { sourceDestCheck: true, enis: [{ eni: "eni-a2", sourceDestCheck: true }] });
      m.set("i-b1", { sourceDestCheck: false, enis: [{ eni: "eni-b1", sourceDestCheck: true }] });
      m.delete("i-b2");
    }),
  );
  t.same(
    plan.sourceDestCheck.map((r) => `${r.subject} ${r.status}`),
    ["a1 OK", "a2 FAIL", "b1 FAIL", "b2 FAIL"],
  );
  const reason = (name: string) => plan.sourceDestCheck.find((r) => r.subject === name)?.reason;
  t.match(
    reason("a2"),
    "aws ec2 modify-instance-attribute --instance-id i-a2 --no-source-dest-check",
  );
  t.match(
    reason("a2"),
    "aws ec2 modify-network-interface-attribute --network-interface-id eni-a2 --no-source-dest-check",
  );
  t.notMatch(reason("b1"), "modify-instance-attribute", "only the flag that is on");
  t.match(reason("b2"), "i-b2 does not exist");
});

t.test("SourceDestCheck: an ENI not on its instance fails", async (t) => {
  const plan = planVerify(
    fleet,
    view({}),
    instances((m) => m.set("i-a1", { sourceDestCheck: false, enis: [] })),
  );
  t.match(plan.sourceDestCheck[0], { status: "FAIL", reason: /eni-a1 is not attached to i-a1/ });
});
