import t, { type Test } from "tap";
import { decide, initialState, statusOf } from "../../control-plane/src/decide/engine.ts";
import { sidesOf } from "../../control-plane/src/decide/sides.ts";
import type {
  DecideResult,
  EngineOptions,
  EngineState,
  MemberObservation,
  Observation,
  WriteRoutes,
} from "../../control-plane/src/decide/types.ts";
import type { FailoverPolicy, Fleet } from "../../control-plane/src/fleet/types.ts";
import {
  applyWrite,
  chainFleet,
  connectionsOf,
  convergedWorld,
  emptyNet,
  hubFleet,
  MULTI_FLEETS,
  memberNames,
  type Net,
  type View as NetView,
  observeNet,
  observeSides,
  partnerOf,
  routeTargets,
  sharedVpcFleet,
  sideSpecs,
  specOf,
  tunnelKey,
  type World,
  worldOf,
} from "../fixtures/multi-fleets.ts";
import { describe } from "../helpers/engine-events.ts";

/*
 * Engine tables on fleets with several connections per pair (a hub pair), two pairs in one
 * VPC, and three VPCs. Each test drives decide() tick by tick with explicit observations; a
 * small EC2 world (test/fixtures/multi-fleets.ts) applies every write (the side's fence tag on
 * each of its tables first, then the routes) and feeds the result back as the next
 * observation's sides. Where several controllers each have their own view, each builds its
 * own observation, explicitly or through the fixture's network model (observeNet), and all
 * write into one world. Tests marked todo are behaviours the lead must decide about; each
 * names the sequence that shows it.
 *
 * Member tokens, joined with "+"; a flag with "@c" applies to connection c only, without it to
 * every connection of the member: up (reachable, tunnels up, probes ok, far agents see it up,
 * EC2 running), noagent (agent unreachable), stopped (agent unreachable, EC2 stopped, far
 * agents see its tunnels down), impaired, ec2unknown, tundown, tununknown, probefail (its probe
 * through its side's routes fails), fardown (the far pair's agents see their tunnels to it
 * down), farnone (no far agent reports). Members not in a table are "up".
 *
 * Outcome tokens per side column ("connection/pair"), joined with ", ", "-" for none:
 * adopt A#E SOURCE, stand-down A#E, failover FROM>TO#E REASON, heal A#E routes=N,
 * alarm REASON [member=why...], alarm-cleared, write A#E [N routes].
 */

const T0 = 1_000_000;

function member(fleet: Fleet, name: string, token: string): MemberObservation {
  const conns = connectionsOf(fleet, name);
  const all = <V>(v: V): Record<string, V> => Object.fromEntries(conns.map((c) => [c, v]));
  const o: MemberObservation = {
    agentReachable: true,
    tunnels: all("up"),
    pathProbes: all(true),
    farTunnels: all("up"),
    ec2: "running",
  };
  for (const flag of token.split("+")) {
    const [what, only] = flag.split("@") as [string, string | undefined];
    const on = only === undefined ? conns : [only];
    const set = (field: "tunnels" | "pathProbes" | "farTunnels", v: unknown) => {
      const rec = (o[field] ?? {}) as Record<string, unknown>;
      for (const c of on) rec[c] = v;
      (o as unknown as Record<string, unknown>)[field] = rec;
    };
    switch (what) {
      case "up":
        break;
      case "noagent":
        o.agentReachable = false;
        break;
      case "stopped":
        o.agentReachable = false;
        o.ec2 = "stopped";
        set("farTunnels", "down");
        break;
      case "impaired":
        o.ec2 = "impaired";
        break;
      case "ec2unknown":
        delete o.ec2;
        break;
      case "tundown":
        set("tunnels", "down");
        break;
      case "tununknown":
        set("tunnels", "unknown");
        break;
      case "probefail":
        set("pathProbes", false);
        break;
      case "fardown":
        set("farTunnels", "down");
        break;
      case "farnone":
        for (const c of on) delete o.farTunnels?.[c];
        break;
      default:
        throw new Error(`unknown token ${flag}`);
    }
  }
  if (!o.agentReachable) {
    o.tunnels = {};
    delete o.pathProbes;
  }
  return o;
}

function observe(fleet: Fleet, world: World, tokens: Record<string, string>, now: number) {
  const members = Object.fromEntries(
    memberNames(fleet).map((m) => [m, member(fleet, m, tokens[m] ?? "up")]),
  );
  return { now, members, sides: observeSides(fleet, world) } satisfies Observation;
}

const keyOf = (x: { connection: string; pair: string }) => `${x.connection}/${x.pair}`;

function outcome(r: DecideResult, side: string): string {
  const parts = [
    ...r.events.filter((e) => keyOf(e) === side).map(describe),
    ...r.actions
      .filter((a) => keyOf(a) === side)
      .map((a) => `write ${a.target}#${a.epoch} [${a.routes.length}]`),
  ].filter((p) => p !== undefined);
  return parts.length === 0 ? "-" : parts.join(", ");
}

interface Sim {
  fleet: Fleet;
  world: World;
  state: EngineState;
  now: number;
  results: DecideResult[];
}

/** Every write of a tick must stay within its own side: its tables, its routes, its members. */
function checkWrite(t: Test, fleet: Fleet, a: WriteRoutes): void {
  const s = specOf(fleet, keyOf(a));
  const ok =
    s.members.includes(a.target) &&
    a.eni === `eni-${a.target}` &&
    JSON.stringify(a.routeTables) === JSON.stringify(s.tables) &&
    a.routes.every(
      (r) =>
        r.connection === a.connection &&
        r.pair === a.pair &&
        s.tables.includes(r.routeTable) &&
        s.destinations.includes(r.destination),
    );
  if (!ok) t.fail(`a write leaves its side: ${JSON.stringify(a)}`);
}

/**
 * Runs a table: header of member and side columns, one row per tick. Returns the actual rows
 * in the same format, so that a mismatch diffs by row.
 */
function run(
  t: Test,
  fleet: Fleet,
  table: string,
  o: { world?: World; options?: EngineOptions } = {},
): { rows: string[]; expected: string[]; sim: Sim } {
  const [header, ...lines] = table
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/ {2,}/));
  const columns = header as string[];
  const isSide = (c: string) => c.includes("/");
  const sim: Sim = {
    fleet,
    world: structuredClone(o.world ?? convergedWorld(fleet)),
    state: initialState,
    now: T0,
    results: [],
  };
  const rows: string[] = [];
  for (const cells of lines) {
    const tokens = Object.fromEntries(
      columns.flatMap((c, j) => (isSide(c) ? [] : [[c, cells[j] as string]])),
    );
    const r = decide(fleet, sim.state, observe(fleet, sim.world, tokens, sim.now), o.options);
    for (const a of r.actions) {
      checkWrite(t, fleet, a);
      applyWrite(sim.world, a);
    }
    sim.state = r.state;
    sim.results.push(r);
    sim.now += fleet.failover.intervalMs;
    rows.push(columns.map((c) => (isSide(c) ? outcome(r, c) : tokens[c])).join("  |  "));
  }
  return { rows, expected: lines.map((cells) => cells.join("  |  ")), sim };
}

function check(t: Test, fleet: Fleet, table: string, o: Parameters<typeof run>[3] = {}): Sim {
  const { rows, expected, sim } = run(t, fleet, table, o);
  t.same(rows, expected);
  return sim;
}

/** A table row repeated n times. */
const times = (n: number, row: string) => Array(n).fill(row).join("\n");

/** The part of the world a side owns: its fence on each of its tables and its routes. */
function sideSlice(fleet: Fleet, world: World, key: string): unknown {
  const s = specOf(fleet, key);
  return {
    fences: s.tables.map((tb) => world[tb]?.fences[key] ?? null),
    routes: routeTargets(s, world),
  };
}

t.test("fixtures: the independent side derivation agrees with the engine's", async (t) => {
  for (const [name, make] of Object.entries(MULTI_FLEETS)) {
    const fleet = make();
    const mine = sideSpecs(fleet).map((s) => ({
      key: s.key,
      members: s.members,
      tables: s.tables,
      routes: s.tables.flatMap((tb) => s.destinations.map((d) => `${tb} ${d}`)),
    }));
    const engine = sidesOf(fleet).map((s) => ({
      key: s.key,
      members: s.members,
      tables: s.routeTables,
      routes: s.routes.map((r) => `${r.routeTable} ${r.destination}`),
    }));
    t.same(mine, engine, name);
  }
  // The shapes the issue asks for.
  t.same(
    sideSpecs(hubFleet()).map((s) => s.key),
    ["ha/ph", "ha/pa", "hb/ph", "hb/pb"],
    "hub: ph is on both connections and its sides share rtb-h1, rtb-h2",
  );
  t.same(
    sideSpecs(sharedVpcFleet())
      .filter((s) => s.pair === "ps" || s.pair === "qs")
      .map((s) => s.tables),
    [
      ["rtb-s1", "rtb-s2"],
      ["rtb-s1", "rtb-s2"],
    ],
    "shared VPC: ps and qs share the tables of vs",
  );
});

t.test(
  "steady state on every multi-connection fleet: adopt, then 20 ticks of nothing",
  async (t) => {
    for (const [name, make] of Object.entries(MULTI_FLEETS)) {
      const fleet = make();
      const world = convergedWorld(fleet);
      const before = structuredClone(world);
      let state = initialState;
      const kinds: string[] = [];
      let actions = 0;
      for (let i = 0; i < 21; i++) {
        const r = decide(fleet, state, observe(fleet, world, {}, T0 + i * 1000));
        state = r.state;
        actions += r.actions.length;
        for (const e of r.events) if (e.kind !== "member-health-changed") kinds.push(e.kind);
      }
      t.equal(actions, 0, `${name}: no action`);
      t.same(
        kinds,
        sideSpecs(fleet).map(() => "adopted"),
        `${name}: one adoption per side, nothing else`,
      );
      t.same(world, before, `${name}: world untouched`);
      for (const [key, side] of Object.entries(state.sides)) {
        t.same(
          Object.values(side.members).map(statusOf),
          ["healthy", "healthy"],
          `${name} ${key}: members healthy`,
        );
      }
    }
  },
);

t.test(
  "hub pair: h1 loses its tunnels towards A only; ha fails over, hb is untouched",
  async (t) => {
    // h1's tunnels to a1 and a2 break. On ha: h1's own tunnel is down, h2's probe through h1
    // fails and A's agents see their tunnels to h1 down, so h1 is dead for ha after `fall` (2)
    // ticks. A's members lose their tunnel to their far active (h1): a1 is dead on (ha, pa) too,
    // a2 cannot take it (alarm) until ha/ph has moved and their tunnels (now to h2) are up
    // again. On hb, h1 is fine: hb/ph keeps owner h1, epoch 1, its fence and routes.
    const fleet = hubFleet();
    const cut = "tundown@ha+fardown@ha";
    const sim = check(
      t,
      fleet,
      `
    h1     h2            a1                  a2                  ha/ph                                       ha/pa                         hb/ph             hb/pb
    up     up            up                  up                  adopt h1#1 fence                            adopt a1#1 fence              adopt h1#1 fence  adopt b2#1 fence
    up     up            up                  up                  -                                           -                             -                 -
    ${cut}  probefail@ha  tundown+probefail  tundown+probefail  -                                           -                             -                 -
    ${cut}  probefail@ha  tundown+probefail  tundown+probefail  failover h1>h2#2 active-dead, write h2#2 [2]  alarm active-dead a2=unready  -                 -
    ${cut}  up            up                  up                  -                                           -                             -                 -
    ${cut}  up            up                  up                  -                                           alarm-cleared                 -                 -
    ${times(20, `${cut}  up  up  up  -  -  -  -`)}
    `,
    );
    const hb = sim.state.sides["hb/ph"];
    t.equal(hb?.decision?.active, "h1");
    t.equal(hb?.epoch, 1, "hb/ph keeps epoch 1");
    t.same(
      sideSlice(fleet, sim.world, "hb/ph"),
      sideSlice(fleet, convergedWorld(fleet), "hb/ph"),
      "hb/ph: fence on both hub tables and its 4 routes exactly as before",
    );
    t.same(sideSlice(fleet, sim.world, "ha/ph"), {
      fences: [1, 2].map(() => ({ active: "h2", epoch: 2, at: T0 + 3000 })),
      routes: ["h2", "h2"],
    });
    t.same(
      sim.world["rtb-h1"]?.routes,
      { "10.1.0.0/16": "eni-h2", "10.2.0.0/16": "eni-h1", "10.3.0.0/16": "eni-h1" },
      "one hub table now sends A's traffic to h2 and B's to h1",
    );
    t.equal(
      sim.results.flatMap((r) => r.actions).filter((a) => a.connection === "hb").length,
      0,
      "no write for hb in 26 ticks",
    );
  },
);

t.test(
  "hub pair: hb owned by h2 while ha fails over h1 > h2, and back is not forced",
  async (t) => {
    // The hub's sides may have different owners; a failover of one never rewrites the other.
    const fleet = hubFleet();
    const world = worldOf(
      fleet,
      { "ha/ph": "h1", "ha/pa": "a1", "hb/ph": "h2", "hb/pb": "b2" },
      { epoch: 4, at: 0 },
    );
    const sim = check(
      t,
      fleet,
      `
    h1       h2  a1       a2                 ha/ph                                       ha/pa                         hb/ph             hb/pb
    up       up  up       up                 adopt h1#4 fence                            adopt a1#4 fence              adopt h2#4 fence  adopt b2#4 fence
    up       up  up       up                 -                                           -                             -                 -
    stopped  up  tundown  tundown+probefail  -                                           -                             -                 -
    stopped  up  tundown  tundown+probefail  failover h1>h2#5 active-dead, write h2#5 [2]  alarm active-dead a2=unready  -                 -
    stopped  up  up       up                 -                                           -                             -                 -
    stopped  up  up       up                 -                                           alarm-cleared                 -                 -
    ${times(20, "stopped  up  up  up  -  -  -  -")}
    `,
      { world },
    );
    t.same(sideSlice(fleet, sim.world, "hb/ph"), sideSlice(fleet, world, "hb/ph"));
  },
);

t.test("two pairs in one VPC: steady, then one pair's side fails over alone", async (t) => {
  // ps and qs share rtb-s1 and rtb-s2. 20 steady ticks: no write at all (a fence per side, so
  // neither pair's tag overwrites the other's). Then p1 stops: px/ps moves to p2; qy/qs keeps
  // its fence and routes on the very same tables. The far side (px, xs) sees its members'
  // tunnels to p1 down until ps has moved (alarm, then cleared).
  const fleet = sharedVpcFleet();
  const down = "stopped  probefail  tundown  tundown+probefail";
  const sim = check(
    t,
    fleet,
    `
    p1       p2         x1       x2                 px/ps                                       px/xs                         qy/qs             qy/ys
    up       up         up       up                 adopt p1#1 fence                            adopt x1#1 fence              adopt q2#1 fence  adopt y1#1 fence
    ${times(20, "up  up  up  up  -  -  -  -")}
    ${down}  -                                           -                             -                 -
    ${down}  failover p1>p2#2 active-dead, write p2#2 [2]  alarm active-dead x2=unready  -                 -
    stopped  up         up       up                 -                                           -                             -                 -
    stopped  up         up       up                 -                                           alarm-cleared                 -                 -
    ${times(20, "stopped  up  up  up  -  -  -  -")}
    `,
  );
  t.equal(sim.results.slice(0, 21).flatMap((r) => r.actions).length, 0, "no write while steady");
  t.same(sideSlice(fleet, sim.world, "qy/qs"), sideSlice(fleet, convergedWorld(fleet), "qy/qs"));
  t.same(
    sim.world["rtb-s2"],
    {
      routes: {
        "10.1.0.0/16": "eni-p2",
        "10.2.0.0/16": "eni-q2",
        "10.3.0.0/16": "eni-q2",
      },
      fences: {
        "px/ps": { active: "p2", epoch: 2, at: T0 + 22_000 },
        "qy/qs": { active: "q2", epoch: 1, at: 0 },
      },
    },
    "one table, two sides, two fences",
  );
});

t.test(
  "two pairs in one VPC: both fail over in the same tick, each to its own standby",
  async (t) => {
    const fleet = sharedVpcFleet();
    const sim = check(
      t,
      fleet,
      `
    p1       q2       p2         q1         px/ps                                       qy/qs
    up       up       up         up         adopt p1#1 fence                            adopt q2#1 fence
    up       up       up         up         -                                           -
    stopped  stopped  probefail  probefail  -                                           -
    stopped  stopped  probefail  probefail  failover p1>p2#2 active-dead, write p2#2 [2]  failover q2>q1#2 active-dead, write q1#2 [4]
    stopped  stopped  up         up         -                                           -
    `,
    );
    t.same(sim.world["rtb-s1"]?.fences, {
      "px/ps": { active: "p2", epoch: 2, at: T0 + 3000 },
      "qy/qs": { active: "q1", epoch: 2, at: T0 + 3000 },
    });
  },
);

t.test("chain: the middle pair's two sides decide alone; a spoke dying moves one", async (t) => {
  // pb (preferred b2) is on ab and bc. b2's tunnels towards C break: bc/pb moves to b1,
  // ab/pb stays on b2. vb has three tables and vc three CIDRs: 2 CIDRs × 3 tables per side.
  const fleet = chainFleet();
  const cut = "tundown@bc+fardown@bc";
  const sim = check(
    t,
    fleet,
    `
    b2     b1            ab/pb             bc/pb                                       ab/pa             bc/pc
    up     up            adopt b2#1 fence  adopt b2#1 fence                            adopt a1#1 fence  adopt c1#1 fence
    up     up            -                 -                                           -                 -
    ${cut}  probefail@bc  -                 -                                           -                 -
    ${cut}  probefail@bc  -                 failover b2>b1#2 active-dead, write b1#2 [9]  -                 -
    ${times(20, `${cut}  up  -  -  -  -`)}
    `,
  );
  t.same(sideSlice(fleet, sim.world, "ab/pb"), sideSlice(fleet, convergedWorld(fleet), "ab/pb"));
  t.same(sim.world["rtb-b3"]?.routes, {
    "10.1.0.0/16": "eni-b2",
    "10.11.0.0/16": "eni-b2",
    "10.3.0.0/16": "eni-b1",
    "10.13.0.0/16": "eni-b1",
    "10.23.0.0/16": "eni-b1",
  });
});

// ---------------------------------------------------------------------------------------------
// Co-located mode and partitions: each controller with its own observation.

/** docs/failover.md's example policy, with the 10 s hold-down of the issue's report. */
const COLO: FailoverPolicy = {
  intervalMs: 1000,
  fall: 3,
  rise: 2,
  holdDownMs: 10_000,
  preempt: false,
};

interface Controller {
  name: string;
  options: EngineOptions;
  state: EngineState;
  /** Its own observation at tick i (undefined: it does not run, e.g. its appliance is dead). */
  observe(world: World, i: number, now: number): Observation | undefined;
  results: DecideResult[];
}

/** Ticks every controller that runs on one shared world; the writes land after all decided. */
function runControllers(fleet: Fleet, world: World, ctls: Controller[], ticks: number): void {
  for (let i = 0; i < ticks; i++) {
    const now = T0 + i * fleet.failover.intervalMs;
    const writes: WriteRoutes[] = [];
    for (const c of ctls) {
      const obs = c.observe(world, i, now);
      if (obs === undefined) continue;
      const r = decide(fleet, c.state, obs, c.options);
      c.state = r.state;
      c.results.push(r);
      writes.push(...r.actions);
    }
    for (const a of writes) applyWrite(world, a);
  }
}

/**
 * The link between `self` and its partner is cut; both are healthy. `self`'s controller cannot
 * reach its partner's agent, and its own probe through the partner fails (set on every
 * connection: it counts only where the partner is the routes' target). The far pairs' agents
 * still see their tunnels to both members up, and EC2 shows both running.
 */
function linkCutView(fleet: Fleet, self: string): Record<string, MemberObservation> {
  const partner = partnerOf(fleet, self);
  const members = Object.fromEntries(memberNames(fleet).map((m) => [m, member(fleet, m, "up")]));
  members[partner] = member(fleet, partner, "noagent");
  members[self] = member(fleet, self, "probefail");
  return members;
}

function colocated(self: string, obs: Controller["observe"]): Controller {
  return { name: self, options: { self }, state: initialState, observe: obs, results: [] };
}

const allowedWhenCut = new Set(["adopted", "member-health-changed"]);

for (const [fleetName, make, pair] of [
  ["hub", hubFleet, "ph"],
  ["chain", chainFleet, "pa"],
  ["chain", chainFleet, "pb"],
  ["shared-vpc", sharedVpcFleet, "qs"],
] as const) {
  t.test(
    `co-located ${fleetName}/${pair}: the link between the members cut, both healthy: 60 s, no route change`,
    async (t) => {
      const fleet = make(COLO);
      const members = (fleet.pairs.find((p) => p.name === pair) as Fleet["pairs"][0]).members;
      // Once with the routes at the preferred member, once at the other one.
      for (const owner of members) {
        const owners = Object.fromEntries(
          sideSpecs(fleet).map((s) => [s.key, s.pair === pair ? owner : s.preferred]),
        );
        const world = worldOf(fleet, owners, { epoch: 3, at: 0 });
        const before = structuredClone(world);
        // Healthy and linked for 5 ticks, then cut for the rest of the minute.
        const ctls = members.map((self) =>
          colocated(self, (w, i, now) => ({
            now,
            members: i < 5 ? observe(fleet, w, {}, now).members : linkCutView(fleet, self),
            sides: observeSides(fleet, w),
          })),
        );
        runControllers(fleet, world, ctls, 61);
        for (const c of ctls) {
          const actions = c.results.flatMap((r) => r.actions);
          t.equal(actions.length, 0, `owner ${owner}, self ${c.name}: no write`);
          const kinds = new Set(c.results.flatMap((r) => r.events.map((e) => e.kind)));
          t.ok(
            [...kinds].every((k) => allowedWhenCut.has(k)),
            `owner ${owner}, self ${c.name}: only adoption and health events (${[...kinds]})`,
          );
          const partner = partnerOf(fleet, c.name);
          for (const [key, side] of Object.entries(c.state.sides)) {
            t.equal(
              statusOf(side.members[partner] as never),
              "unready",
              `${c.name} sees ${partner} unready on ${key}, never dead`,
            );
          }
        }
        t.same(world, before, `owner ${owner}: the world is untouched`);
      }
    },
  );
}

t.test(
  "co-located: the active member really dead, the link cut too: exactly one failover",
  async (t) => {
    // Contrast with the test above: a1's controller dies with a1, and a2's controller has its own
    // signal (a1's agent unreachable) plus an outside witness that does not share the link:
    // either the far pair's agents (their tunnels to a1 are down; EC2 has not noticed yet) or EC2
    // (stopped; no far agent reports). One failover per side of the pair, to a2, after `fall`.
    const variants: Record<string, string> = {
      "far witness": "noagent+fardown",
      "EC2 stopped": "stopped+farnone",
    };
    for (const [name, dead] of Object.entries(variants)) {
      for (const [fleetName, make, a1, a2] of [
        ["chain", chainFleet, "a1", "a2"],
        ["hub", hubFleet, "h1", "h2"],
      ] as const) {
        const fleet = make(COLO);
        const world = convergedWorld(fleet);
        const DIES = 5;
        const ctls = [
          colocated(a1, (w, i, now) => (i < DIES ? observe(fleet, w, {}, now) : undefined)),
          colocated(a2, (w, i, now) => {
            if (i < DIES) return observe(fleet, w, {}, now);
            const members = linkCutView(fleet, a2);
            members[a1] = member(fleet, a1, dead);
            return { now, members, sides: observeSides(fleet, w) };
          }),
        ];
        runControllers(fleet, world, ctls, 61);
        const failovers = ctls.flatMap((c) =>
          c.results.flatMap((r) => r.events.filter((e) => e.kind === "failover")),
        );
        const sides = sideSpecs(fleet).filter((s) => s.members.includes(a1));
        t.same(
          failovers.map((e) => `${keyOf(e)} ${e.from}>${e.to} @${(e.at - T0) / 1000}`).sort(),
          sides.map((s) => `${s.key} ${a1}>${a2} @${DIES + COLO.fall - 1}`).sort(),
          `${name}, ${fleetName}: one failover per side of the pair, by ${a2}'s controller`,
        );
        const writes = ctls.flatMap((c) => c.results.flatMap((r) => r.actions));
        t.equal(writes.length, sides.length, `${name}, ${fleetName}: one write per side`);
        for (const s of sides) {
          t.same(new Set(routeTargets(s, world)), new Set([a2]), `${s.key} routes at ${a2}`);
        }
      }
    }
  },
);

t.test("co-located: a member's own signal with only its partner's probe never moves", async (t) => {
  // The signals of the link cut, but told apart: the partner's agent unreachable and the probe
  // through it failing, with no far witness reporting at all (farnone) and EC2 unknown. That is
  // the two-signal pair that counts in central mode; co-located it must not.
  const fleet = chainFleet(COLO);
  const world = convergedWorld(fleet);
  const ctl = colocated("a2", (w, _i, now) => {
    const members = linkCutView(fleet, "a2");
    members.a1 = member(fleet, "a1", "noagent+farnone+ec2unknown");
    return { now, members, sides: observeSides(fleet, w) };
  });
  runControllers(fleet, world, [ctl], 60);
  t.equal(ctl.results.flatMap((r) => r.actions).length, 0);
  const central = run(
    t,
    fleet,
    `a1  a2  ab/pa\n${times(12, "noagent+farnone+ec2unknown  probefail  x")}`,
  );
  t.ok(
    central.sim.results.some((r) => r.actions.length > 0),
    "the same observation in central mode fails over (path probe is an outside signal there)",
  );
});

t.test(
  "central mode: the controller partitioned from one agent only never fails over",
  async (t) => {
    // Every appliance of every fleet in turn: its agent does not answer this controller, and
    // nothing else is wrong (its partner's probe through it works, the far agents see its
    // tunnels up, EC2 says running). One signal: unready at most, never dead, never moved.
    for (const [name, make] of Object.entries(MULTI_FLEETS)) {
      const fleet = make(COLO);
      for (const m of memberNames(fleet)) {
        const world = convergedWorld(fleet);
        const before = structuredClone(world);
        let state = initialState;
        const kinds = new Set<string>();
        for (let i = 0; i < 30; i++) {
          const r = decide(fleet, state, observe(fleet, world, { [m]: "noagent" }, T0 + i * 1000));
          for (const a of r.actions) applyWrite(world, a);
          state = r.state;
          for (const e of r.events) kinds.add(e.kind);
        }
        t.same(world, before, `${name}, ${m} unreachable: no write`);
        t.notOk(kinds.has("failover"), `${name}, ${m}: no failover`);
        for (const [key, side] of Object.entries(state.sides)) {
          const h = side.members[m];
          if (h) t.equal(statusOf(h), "unready", `${name} ${key}: ${m} unready, not dead`);
        }
      }
    }
  },
);

t.test("central mode, the network model: a partition from an agent plus a cut link", async (t) => {
  // The same through observeNet: the controller cannot reach h1 and the link between h1 and
  // h2 is cut (so h2's probe through h1 fails). That is two signals in central mode: with
  // h1 really alive (far agents and EC2 say so), this is the case central mode cannot tell
  // from a death; the test pins what the engine does so a change is seen.
  const fleet = hubFleet(COLO);
  const world = convergedWorld(fleet);
  const net = emptyNet();
  let state = initialState;
  const moved: string[] = [];
  for (let i = 0; i < 20; i++) {
    if (i === 3) net.linkCut.add("ph");
    const obs = observeNet(fleet, world, net, { unreachable: new Set(["h1"]) }, T0 + i * 1000);
    const r = decide(fleet, state, obs);
    for (const a of r.actions) applyWrite(world, a);
    for (const e of r.events) if (e.kind === "failover") moved.push(`${keyOf(e)} ${e.to}`);
    state = r.state;
  }
  t.same(moved.sort(), ["ha/ph h2", "hb/ph h2"], "central mode moves both hub sides to h2");
  // Without the cut link: one signal, nothing moves.
  const w2 = convergedWorld(fleet);
  let s2 = initialState;
  let writes = 0;
  for (let i = 0; i < 20; i++) {
    const obs = observeNet(fleet, w2, emptyNet(), { unreachable: new Set(["h1"]) }, T0 + i * 1000);
    const r = decide(fleet, s2, obs);
    writes += r.actions.length;
    s2 = r.state;
  }
  t.equal(writes, 0);
});

t.test("network model: the tunnel between the two owners breaks, everything else up", async (t) => {
  // a1-b2 (the two owners of `ab` in the chain; pb prefers b2) breaks; a1-b1, a2-b1, a2-b2
  // are up. Central mode: a2's probe through a1 fails (outside) and a1's tunnel to b2 is down
  // (own), so side (ab, pa) moves; b2 likewise on (ab, pb). docs/failover.md: "both sides move in the same
  // tick".
  const fleet = chainFleet(COLO);
  const net = emptyNet();
  net.broken.add(tunnelKey("a1", "b2"));
  const world = convergedWorld(fleet); // ab/pa at a1, ab/pb at b2 (pb prefers b2)
  let state = initialState;
  const moved: string[] = [];
  for (let i = 0; i < 20; i++) {
    const r = decide(fleet, state, observeNet(fleet, world, net, {}, T0 + i * 1000));
    for (const a of r.actions) applyWrite(world, a);
    for (const e of r.events) if (e.kind === "failover") moved.push(`${keyOf(e)} ${e.to}@${i}`);
    state = r.state;
  }
  t.same(moved, ["ab/pa a2@2", "ab/pb b1@2"], "central: both sides move in the same tick");
});

t.test("co-located, network model: the tunnel between the two owners breaks", async (t) => {
  const fleet = chainFleet(COLO);
  const net = emptyNet();
  net.broken.add(tunnelKey("a1", "b2"));
  const world = convergedWorld(fleet);
  const ctls = ["a1", "a2", "b1", "b2"].map((self) =>
    colocated(self, (w, _i, now) => observeNet(fleet, w, net, { self }, now)),
  );
  runControllers(fleet, world, ctls, 30);
  const s = specOf(fleet, "ab/pa");
  const f = specOf(fleet, "ab/pb");
  // Each owner's own tunnel is down and the far owner sees it down: both are dead by two
  // signals, so each partner claims its side, and a2-b1 carries the traffic.
  t.same(
    routeTargets(s, world),
    routeTargets(s, world).map(() => "a2"),
    "ab/pa on a2",
  );
  t.same(
    routeTargets(f, world),
    routeTargets(f, world).map(() => "b1"),
    "ab/pb on b1",
  );
  const moved = ctls.flatMap((c) =>
    c.results.flatMap((r) => r.events.filter((e) => e.kind === "failover")),
  );
  t.equal(moved.length, 2, "one failover per side, no more");
});

t.test("co-located, link cut, side unowned: both members claim in the same tick", async (t) => {
  // Documents what two controllers with different views do with an unowned side: a1's
  // controller claims as the preferred member (C6); a2's sees a1 unreachable, so not
  // healthy, and claims too (C7). Both write epoch 1; the fence order (a2 > a1 at equal
  // epochs) decides on the next read, if a2's tag is the one EC2 kept (last writer wins).
  const fleet = chainFleet(COLO);
  const owners: Record<string, string | null> = Object.fromEntries(
    sideSpecs(fleet).map((s) => [s.key, s.preferred]),
  );
  owners["ab/pa"] = null;
  for (const order of [
    ["a1", "a2"],
    ["a2", "a1"],
  ]) {
    const world = worldOf(fleet, owners, { epoch: 1, at: 0 });
    const ctls = order.map((self) =>
      colocated(self, (w, _i, now) => ({
        now,
        members: linkCutView(fleet, self),
        sides: observeSides(fleet, w),
      })),
    );
    runControllers(fleet, world, ctls, 20);
    const claims = ctls.map((c) =>
      c.results.flatMap((r, i) =>
        r.events.filter((e) => e.kind === "failover").map((e) => `${e.to}#${e.epoch}@${i}`),
      ),
    );
    t.same(
      claims.flat().sort(),
      ["a1#1@1", "a2#1@1"],
      `writers in order ${order}: two claims, same tick`,
    );
    const writes = ctls.map((c) => c.results.flatMap((r) => r.actions).length);
    t.ok(
      writes.every((n) => n >= 1),
      `order ${order}: writes per controller ${writes}`,
    );
    t.comment(
      `order ${order}: writes per controller ${writes}, routes ${routeTargets(specOf(fleet, "ab/pa"), world)}`,
    );
  }
});

/** Central controllers, one per view, on one shared world and network; writes land after all decided. */
function centrals(fleet: Fleet, views: View[]): Controller[] {
  return views.map((view, i) => ({
    name: `c${i + 1}`,
    options: {},
    state: initialState,
    observe: (w, _i, now) => observeNet(fleet, w, view.net, view.view, now),
    results: [],
  }));
}

interface View {
  net: Net;
  view: NetView;
}

/** Every failover event as "tick controller side from>to reason", in tick order. */
function moves(ctls: Controller[]): string[] {
  const all = ctls.flatMap((c) =>
    c.results.flatMap((r, i) =>
      r.events.flatMap((e) =>
        e.kind === "failover"
          ? [{ i, text: `${i} ${c.name} ${keyOf(e)} ${e.from}>${e.to} ${e.reason}` }]
          : [],
      ),
    ),
  );
  return all.sort((a, b) => a.i - b.i).map((m) => m.text);
}

/**
 * Two central controllers whose views differ, sharing a lease table: `holder` holds every
 * side's lease and decides, the other only watches (EngineOptions.holds). Without the lease
 * both decide, and these views make them move the side back and forth for ever (fencing alone
 * orders the writes but cannot stop two writers that disagree): that is what leases are for.
 */
function leased(ctls: Controller[], holder: number): Controller[] {
  return ctls.map((c, i) => ({ ...c, options: { ...c.options, holds: () => i === holder } }));
}

t.test(
  "AZ split: two central controllers, each reaching one member, the link between them cut",
  async (t) => {
    // c1 and c2 are central controllers in the two AZs of a1 and a2: c1 reaches a1 but not a2,
    // c2 reaches a2 but not a1; at tick 5 the link between a1 and a2 is cut. Far agents and EC2
    // see both members fine. Policy: fall 3, rise 2, hold-down 10 s.
    for (const holder of [0, 1]) {
      const fleet = chainFleet(COLO);
      const world = convergedWorld(fleet);
      const net = emptyNet();
      const ctls = leased(
        centrals(fleet, [
          { net, view: { unreachable: new Set(["a2"]) } },
          { net, view: { unreachable: new Set(["a1"]) } },
        ]),
        holder,
      );
      for (const c of ctls) {
        const inner = c.observe;
        c.observe = (w, i, now) => {
          if (i === 5) net.linkCut.add("pa");
          return inner(w, i, now);
        };
      }
      runControllers(fleet, world, ctls, 60);
      t.comment(moves(ctls).join("\n"));
      t.ok(moves(ctls).length <= 1, `c${holder + 1} holds the lease: at most one move in 60 s`);
    }
  },
);

t.test("preemption with two views: the lease holder's view alone decides", async (t) => {
  for (const holder of [0, 1]) {
    const fleet = hubFleet({ ...COLO, preempt: true });
    const world = convergedWorld(fleet);
    const net = emptyNet();
    const ctls = leased(
      centrals(fleet, [
        { net, view: { ec2Blind: true } },
        { net, view: { unreachable: new Set(["h1"]) } },
      ]),
      holder,
    );
    net.impaired.add("h1");
    runControllers(fleet, world, ctls, 60);
    t.comment(moves(ctls).join("\n"));
    t.ok(moves(ctls).length <= 2, `c${holder + 1} holds: at most one move per hub side in 60 s`);
  }
});
