import t from "tap";
import type { AgentStatus } from "../../common/agent-api/status.ts";
import { formatPlan, formatStatus } from "../../control-plane/src/controller/format.ts";
import {
  ec2StateOf,
  type Gathered,
  sideObservations,
  toObservation,
} from "../../control-plane/src/controller/observation.ts";
import { parseListen } from "../../control-plane/src/controller/server.ts";
import { sideViews } from "../../control-plane/src/controller/view.ts";
import { decide, initialState } from "../../control-plane/src/decide/engine.ts";
import { sidesOf } from "../../control-plane/src/decide/sides.ts";
import type { TableFences } from "../../control-plane/src/ec2/fences.ts";
import type { ManagedRouteState, ManagedTables } from "../../control-plane/src/ec2/route-tables.ts";
import { type FenceValue, fenceKey } from "../../control-plane/src/fleet/fence-tags.ts";
import { managedRoutes } from "../../control-plane/src/fleet/routes.ts";
import type { Fleet } from "../../control-plane/src/fleet/types.ts";
import { agentStatus, pathStatus, tunnelStatus } from "../fixtures/agent-status.ts";
import { twoPairFleet } from "../fixtures/fleets.ts";

/**
 * The controller's pure mapping from what it read (EC2 tables, instance states, agent
 * statuses) to the engine's observation, and the views built from it.
 */

const POLICY = { intervalMs: 500, fall: 1, rise: 1, holdDownMs: 10_000, preempt: false };
const fleet = twoPairFleet(POLICY);
const sides = sidesOf(fleet);
const NOW = Date.parse("2026-11-28T12:00:00Z");

/** A table's fences: `sides` by side key ("ab/pb"), and the legacy shared fence if any. */
function fencesOf(sides: Record<string, FenceValue>, legacy?: FenceValue): TableFences {
  const bySide = Object.fromEntries(
    Object.entries(sides).map(([key, f]) => {
      const [connection, pair] = key.split("/") as [string, string];
      return [fenceKey(connection, pair), f];
    }),
  );
  return legacy ? { sides: bySide, legacy } : { sides: bySide };
}

/** Every managed route on `on[pair]`'s ENI; fences per table id (pb's own fence when a FenceValue). */
function tables(
  on: Record<string, string | null>,
  fences: Record<string, FenceValue | TableFences> = {},
): ManagedTables {
  const routes: ManagedRouteState[] = managedRoutes(fleet).map((r) => {
    const member = on[r.pair];
    return {
      ...r,
      target: member
        ? { kind: "eni", eni: `eni-${member}`, blackhole: false }
        : { kind: "missing" },
    };
  });
  const ids = fleet.vpcs.flatMap((v) => v.routeTables);
  return {
    tables: ids.map((id) => {
      const f = fences[id];
      const pairOf = id === "rtb-b" ? "ab/pb" : "ab/pa";
      return {
        id,
        vpcId: "vpc-x",
        fleetTagged: true,
        fences: f === undefined ? { sides: {} } : "sides" in f ? f : fencesOf({ [pairOf]: f }),
      };
    }),
    missingTables: [],
    routes,
  };
}

function agent(
  tunnels: Record<string, AgentStatus["tunnels"][number]["state"]>,
  paths: Record<string, "up" | "down" | "unknown"> = {},
): AgentStatus {
  return agentStatus(
    Object.entries(tunnels).map(([name, state]) => tunnelStatus(name, { state })),
    { paths: Object.entries(paths).map(([name, state]) => pathStatus(name, { state })) },
  );
}

function gathered(over: Partial<Gathered> = {}): Gathered {
  return {
    now: NOW,
    tables: tables({ pa: "a1", pb: "b1" }),
    instances: new Map(["a1", "a2", "b1", "b2"].map((n) => [`i-${n}`, "running" as const])),
    agents: {
      a1: agent({ b1: "up", b2: "down" }),
      a2: agent({ b1: "up", b2: "up" }),
      b1: agent({ a1: "up", a2: "up" }),
      b2: agent({ a1: "down", a2: "up" }),
    },
    ...over,
  };
}

t.test("a member's tunnel is the one named after the far side's active member", async (t) => {
  const o = toObservation(fleet, sides, gathered());
  t.same(
    o.members.a1?.tunnels,
    { ab: "up" },
    "a1 → b1 (active on pb) is up; its tunnel to b2 does not count",
  );
  t.same(o.members.b2?.tunnels, { ab: "down" }, "b2 → a1 (active on pa) is down");

  const moved = toObservation(fleet, sides, gathered({ tables: tables({ pa: "a1", pb: "b2" }) }));
  t.same(
    moved.members.a1?.tunnels,
    { ab: "down" },
    "pb moved to b2: a1's tunnel to b2 is what counts",
  );

  const fenced = toObservation(
    fleet,
    sides,
    gathered({
      tables: tables(
        { pa: "a1", pb: "b1" },
        { "rtb-b": { active: "b2", epoch: 4, at: "2026-11-28T11:00:00Z" } },
      ),
    }),
  );
  t.same(
    fenced.members.a1?.tunnels,
    { ab: "down" },
    "the fence names the active member before the routes do",
  );
  t.same(fenced.sides.find((s) => s.pair === "pb")?.fences, [
    { active: "b2", epoch: 4, at: Date.parse("2026-11-28T11:00:00Z") },
  ]);

  const none = toObservation(fleet, sides, gathered({ tables: tables({ pa: "a1", pb: null }) }));
  t.same(none.members.a1?.tunnels, { ab: "up" }, "no active far member: any far tunnel up will do");
  const noneDown = toObservation(
    fleet,
    sides,
    gathered({
      tables: tables({ pa: "a1", pb: null }),
      agents: { ...gathered().agents, a1: agent({ b1: "connecting" }) },
    }),
  );
  t.same(noneDown.members.a1?.tunnels, { ab: "down" }, "connecting carries nothing: down");
  const unnamed = toObservation(
    fleet,
    sides,
    gathered({ agents: { ...gathered().agents, a1: agent({ "to-dc1": "up" }) } }),
  );
  t.same(
    unnamed.members.a1?.tunnels,
    { ab: "unknown" },
    "no tunnel named after a far member: unknown",
  );
});

t.test("a silent far owner: the near pair is judged by both far members, and stays", async (t) => {
  // b1 owns pb and has just died: its agent is silent, a1's tunnel to it is down, and a2's
  // path probe through a1 fails until pb moves and a1 carries through b2.
  const dying = gathered({
    agents: {
      a1: agent({ b1: "down", b2: "up" }),
      a2: agent({ b1: "down", b2: "up" }, { ab: "down" }),
      b1: undefined,
      b2: agent({ a1: "up", a2: "up" }),
    },
  });
  const o = toObservation(fleet, sides, dying);
  t.same(o.members.a1?.tunnels, { ab: "up" }, "a1 still reaches the far pair through b2");
  t.same(o.members.a1?.farTunnels, { ab: "up" }, "b2 witnesses a1's tunnel, b1 cannot");
  t.same(o.members.a2?.tunnels, { ab: "up" }, "a2 stays fit as a target");

  let state = initialState;
  const moves: string[] = [];
  const paTrouble: string[] = [];
  for (let tick = 0; tick < 6; tick++) {
    const r = decide(fleet, state, { ...o, now: NOW + tick * POLICY.intervalMs });
    state = r.state;
    for (const e of r.events) {
      if (e.kind === "failover") moves.push(`${e.pair}→${e.to}`);
      if (e.pair !== "pa") continue;
      if (e.kind === "alarm-no-healthy-target") paTrouble.push(e.kind);
      // Unready is fair (a2's probe through a1 fails); dead would move the routes.
      if (e.kind === "member-health-changed" && e.to === "dead") paTrouble.push(`${e.member} dead`);
    }
  }
  t.same(moves, ["pb→b2"], "only the far pair fails over");
  t.same(paTrouble, [], "no member of pa is ever dead, nor pa alarmed");

  const owned = toObservation(
    fleet,
    sides,
    gathered({ agents: { ...dying.agents, b1: agent({ a1: "down", a2: "up" }) } }),
  );
  t.same(
    owned.members.a1?.tunnels,
    { ab: "down" },
    "an answering far owner's tunnel is the one that counts",
  );
});

t.test("a charon restarted after a steady run: no failover on either side", async (t) => {
  // charon on a1 (active on pa) was killed; its agent restarted it 1 s ago. a1's tunnels and
  // b1's tunnel to a1 are down while they are made again; a2's path probe through a1 fails.
  const restarted = (ago: number, ranMs: number): AgentStatus => {
    const status = agent({ b1: "connecting", b2: "connecting" });
    const at = new Date(NOW - ago).toISOString();
    const lastExit = { code: null, signal: "SIGKILL", at, ranMs, reason: null };
    return { ...status, charon: { ...status.charon, lastExit } };
  };
  const world = (a1: AgentStatus) =>
    gathered({
      agents: {
        a1,
        a2: agent({ b1: "up", b2: "up" }, { ab: "down" }),
        b1: agent({ a1: "down", a2: "up" }),
        b2: agent({ a1: "down", a2: "up" }),
      },
    });
  const o = toObservation(fleet, sides, world(restarted(1000, 51_000)));
  t.equal(o.members.a1?.charonRestarting, true);
  t.same(o.members.b1?.tunnels, { ab: "up" }, "b1 is judged by its tunnel to a2 meanwhile");
  t.same(o.members.b1?.farTunnels, { ab: "up" }, "a1's report witnesses nothing meanwhile");

  const run = (obs: typeof o) => {
    let state = initialState;
    const trouble: string[] = [];
    for (let tick = 0; tick < 6; tick++) {
      const r = decide(fleet, state, { ...obs, now: NOW + tick * POLICY.intervalMs });
      state = r.state;
      for (const e of r.events) {
        if (e.kind === "failover") trouble.push(`${e.pair}→${e.to}`);
        if (e.kind === "member-health-changed" && e.to === "dead") trouble.push(`${e.member} dead`);
      }
    }
    return trouble;
  };
  t.same(run(o), [], "a1 is only unready: nothing moves, on either side");

  const looping = toObservation(fleet, sides, world(restarted(1000, 2000)));
  t.notOk(looping.members.a1?.charonRestarting, "a charon that ran 2 s is crash-looping");
  t.same(
    run(looping).slice(0, 2),
    ["a1 dead", "pa→a2"],
    "a crash-looping charon fails its member over",
  );
  const late = toObservation(fleet, sides, world(restarted(6000, 51_000)));
  t.notOk(late.members.a1?.charonRestarting, "the grace is over after 5 s");
});

t.test("each side reads its own fence; the legacy shared one only where it has none", async (t) => {
  // A hub: pa is in ab and in ac, so both sides (ab/pa, ac/pa) route through rtb-a1 and rtb-a2.
  const hub: Fleet = {
    ...fleet,
    vpcs: [
      ...fleet.vpcs,
      { name: "vc", id: "vpc-c", cidrs: ["10.3.0.0/16"], routeTables: ["rtb-c"] },
    ],
    appliances: [
      ...fleet.appliances,
      ...["c1", "c2"].map((name) => ({
        name,
        vpc: "vc",
        instanceId: `i-${name}`,
        eni: `eni-${name}`,
        agent: { kind: "unix" as const, path: `/run/${name}.sock` },
      })),
    ],
    pairs: [...fleet.pairs, { name: "pc", vpc: "vc", members: ["c1", "c2"], preferred: "c1" }],
    connections: [
      ...fleet.connections,
      { name: "ac", kind: "site-to-site", between: ["pa", "pc"] },
    ],
  };
  const hubSides = sidesOf(hub);
  const at = "2026-11-28T11:00:00.000Z";
  const ms = Date.parse(at);
  const view = (byTable: Record<string, TableFences>): ManagedTables => ({
    tables: ["rtb-a1", "rtb-a2", "rtb-b", "rtb-c"].map((id) => ({
      id,
      vpcId: "vpc-x",
      fleetTagged: true,
      fences: byTable[id] ?? { sides: {} },
    })),
    missingTables: [],
    routes: [],
  });
  const fencesOfSide = (v: ManagedTables, key: string) =>
    sideObservations(hubSides, v).find((o) => `${o.connection}/${o.pair}` === key)?.fences;

  const own = view({
    "rtb-a1": fencesOf({
      "ab/pa": { active: "a2", epoch: 3, at },
      "ac/pa": { active: "a1", epoch: 9, at },
    }),
    "rtb-a2": fencesOf({ "ab/pa": { active: "a2", epoch: 3, at } }),
  });
  t.same(fencesOfSide(own, "ab/pa"), [
    { active: "a2", epoch: 3, at: ms },
    { active: "a2", epoch: 3, at: ms },
  ]);
  t.same(
    fencesOfSide(own, "ac/pa"),
    [{ active: "a1", epoch: 9, at: ms }],
    "ac/pa sees only its own fence, not ab/pa's newer-looking neighbour on the same table",
  );
  t.same(fencesOfSide(own, "ab/pb"), [], "no fence on pb's table");

  const legacy = view({
    "rtb-a1": fencesOf({}, { active: "a1", epoch: 5, at }),
    "rtb-a2": fencesOf({ "ab/pa": { active: "a2", epoch: 6, at } }, { active: "a1", epoch: 5, at }),
  });
  t.same(
    fencesOfSide(legacy, "ab/pa"),
    [
      { active: "a1", epoch: 5, at: ms },
      { active: "a2", epoch: 6, at: ms },
    ],
    "the legacy fence stands in on rtb-a1 only: on rtb-a2 the side's own tag wins",
  );
  t.same(
    fencesOfSide(legacy, "ac/pa"),
    [
      { active: "a1", epoch: 5, at: ms },
      { active: "a1", epoch: 5, at: ms },
    ],
    "a side without its own tag reads the legacy fence on every table",
  );
  const o = toObservation(hub, hubSides, { ...gathered(), tables: legacy });
  t.same(
    o.sides.map((x) => `${x.connection}/${x.pair} ${x.fences.length}`),
    ["ab/pa 2", "ab/pb 0", "ac/pa 2", "ac/pc 0"],
  );
});

t.test("unreachable agents, EC2 states, path probes and an unreadable EC2", async (t) => {
  const { a1: _gone, ...rest } = gathered().agents;
  const o = toObservation(
    fleet,
    sides,
    gathered({
      agents: { ...rest, a1: undefined, a2: agent({ b1: "up" }, { ab: "down", other: "unknown" }) },
      instances: new Map([
        ["i-a1", "stopped"],
        ["i-b1", "impaired"],
      ]),
    }),
  );
  t.same(
    o.members.a1,
    { agentReachable: false, tunnels: {}, farTunnels: { ab: "up" }, ec2: "stopped" },
    "unreachable: no tunnels of its own, but b1 still reports its tunnel to a1 up",
  );
  t.same(o.members.a2?.pathProbes, { ab: false }, "unknown path probes carry no evidence");
  t.notOk("ec2" in (o.members.a2 ?? {}), "an instance EC2 did not report is unknown");
  t.equal(o.members.b1?.ec2, "impaired");
  t.notOk("pathProbes" in (o.members.b1 ?? {}), "no paths reported: none measured");
  t.same(
    toObservation(fleet, sides, gathered({ tables: undefined })).sides,
    [],
    "EC2 unread: no side observed",
  );

  t.equal(ec2StateOf("running", false), "running");
  t.equal(ec2StateOf("running", true), "impaired");
  for (const s of ["stopping", "stopped", "shutting-down", "terminated"])
    t.equal(ec2StateOf(s, false), "stopped", s);
  t.equal(ec2StateOf("pending", false), "unknown");
});

t.test("views: drift against the active member, members' signals, plan text", async (t) => {
  const g = gathered({
    tables: tables(
      { pa: "a1", pb: "b1" },
      { "rtb-a1": { active: "a2", epoch: 2, at: "2026-11-28T11:59:00Z" } },
    ),
    agents: { ...gathered().agents, a2: undefined },
  });
  const o = toObservation(fleet, sides, g);
  const result = decide(fleet, initialState, o);
  const views = sideViews(sides, o, result.state);
  const pa = views.find((v) => v.pair === "pa");
  t.equal(pa?.active, "a2", "the fence decides who is active");
  t.same(
    pa?.drift.map((d) => `${d.routeTable} ${d.destination} ${d.now}`),
    ["rtb-a1 10.2.0.0/16 eni-a1", "rtb-a2 10.2.0.0/16 eni-a1"],
    "every route still on a1 drifts from the fence's a2",
  );
  t.match(pa?.members, [
    { name: "a1", status: "healthy" },
    { name: "a2", agent: "unreachable", signals: ["agent-unreachable"] },
  ]);
  t.same(pa?.lastFailover, { to: "a2", epoch: 2, at: "2026-11-28T11:59:00.000Z" });
  const seen = new Map([
    ["ab/pa", { to: "a2", from: "a1", reason: "active-dead", epoch: 2, at: "x" }],
  ]);
  t.equal(
    sideViews(sides, o, result.state, seen).find((v) => v.pair === "pa")?.lastFailover?.from,
    "a1",
  );
  const stale = new Map([["ab/pa", { to: "a1", epoch: 1, at: "y" }]]);
  t.equal(
    sideViews(sides, o, result.state, stale).find((v) => v.pair === "pa")?.lastFailover?.epoch,
    2,
    "a newer fence beats memory",
  );

  const text = formatStatus(views, ["agent a2: gone"]);
  t.match(text, /^CONNECTION\s+PAIR\s+ACTIVE/);
  t.match(text, /ab\s+pa\s+a2\s+a1\s+2\s+2\s+2\s+/);
  t.match(text, /ab\/pa\s+a2\*\s+\S+\s+unreachable/);
  t.match(text, /routes that drift from the decision:\n\s+ab\/pa: rtb-a1 10.2.0.0\/16 → eni-a1/);
  t.match(text, /could not read:\n\s+agent a2: gone/);

  t.same(
    result.actions,
    [],
    "a2 is unready, not dead: it keeps the routes, and nothing heals towards it",
  );
  t.same(formatPlan([], []), "no changes: every managed route matches its decision");
});

t.test("--listen addresses", async (t) => {
  t.same(parseListen("127.0.0.1:9470"), { host: "127.0.0.1", port: 9470 });
  t.same(parseListen("[::1]:0"), { host: "::1", port: 0 });
  t.same(parseListen(":9470"), { host: undefined, port: 9470 });
  for (const bad of ["9470", "host", "1.2.3.4:99999", "::1:80"])
    t.throws(() => parseListen(bad), /expected HOST:PORT/, bad);
});
