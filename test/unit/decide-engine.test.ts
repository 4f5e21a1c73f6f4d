import t, { type Test } from "tap";
import { decide, initialState, sideKey, statusOf } from "../../control-plane/src/decide/engine.ts";
import type {
  DecideResult,
  EngineOptions,
  EngineState,
  FenceTag,
  MemberObservation,
  Observation,
  SideObservation,
  WriteRoutes,
} from "../../control-plane/src/decide/types.ts";
import type { FailoverPolicy, Fleet } from "../../control-plane/src/fleet/types.ts";
import { twoPairFleet } from "../fixtures/fleets.ts";
import { describe } from "../helpers/engine-events.ts";

/*
 * Scenarios are tables: one row per tick, one column per appliance (what it looks like this
 * tick) and one per pair (what the engine did on that pair's side of connection "ab"). The
 * world applies the engine's writes the way EC2 would (fence tag first, then routes), so the
 * next row observes their effect.
 *
 * Appliance tokens, joined with "+": up (reachable, tunnel up, EC2 running, probe ok),
 * noagent (agent unreachable), tundown, tununknown, stopped (EC2 stopped, agent unreachable),
 * impaired (EC2 status checks failing), probefail (its probe through the routes' target
 * fails), ec2unknown. Appliances not in the table are "up".
 *
 * Outcome tokens, joined with ", ", "-" for none: adopt A#E SOURCE, stand-down A#E,
 * failover FROM>TO#E REASON, heal A#E routes=N, alarm REASON [member=why...], alarm-cleared,
 * write A#E [N routes].
 */

const INTERVAL = 1000;
const HOLD = 5000;
const T0 = 1_000_000;

function fleet(policy: Partial<FailoverPolicy> = {}): Fleet {
  const failover = { intervalMs: INTERVAL, fall: 2, rise: 2, holdDownMs: HOLD, preempt: false };
  return twoPairFleet({ ...failover, ...policy }, { vbCidrs: ["10.2.0.0/16", "10.3.0.0/16"] });
}

function member(token: string): MemberObservation {
  const o: MemberObservation = {
    agentReachable: true,
    tunnels: { ab: "up" },
    pathProbes: { ab: true },
    ec2: "running",
  };
  for (const flag of token.split("+")) {
    if (flag === "noagent" || flag === "stopped") {
      o.agentReachable = false;
      o.tunnels = {};
      delete o.pathProbes;
    }
    if (flag === "stopped") o.ec2 = "stopped";
    if (flag === "impaired") o.ec2 = "impaired";
    if (flag === "ec2unknown") o.ec2 = "unknown";
    if (flag === "tundown") o.tunnels = { ab: "down" };
    if (flag === "tununknown") o.tunnels = { ab: "unknown" };
    if (flag === "probefail") o.pathProbes = { ab: false };
  }
  return o;
}

/** What EC2 holds for one side: the ENI per route and the fence tag per route table. */
interface SideWorld {
  routes: Map<string, string | null>;
  fences: Map<string, FenceTag>;
}
type World = Record<string, SideWorld>;

const SIDES = {
  pa: { tables: ["rtb-a1", "rtb-a2"], cidrs: ["10.2.0.0/16", "10.3.0.0/16"] },
  pb: { tables: ["rtb-b"], cidrs: ["10.1.0.0/16"] },
};

/** Routes of `pair` all at `target` (null: missing), fenced by `fence` when given. */
function sideWorld(pair: keyof typeof SIDES, target: string | null, fence?: FenceTag): SideWorld {
  const { tables, cidrs } = SIDES[pair];
  const eni = target === null ? null : `eni-${target}`;
  return {
    routes: new Map(tables.flatMap((rt) => cidrs.map((c) => [`${rt} ${c}`, eni]))),
    fences: new Map(fence ? tables.map((rt) => [rt, fence]) : []),
  };
}

function fenced(active: string, epoch: number, at = 0): FenceTag {
  return { active, epoch, at };
}

function defaultWorld(): World {
  return {
    [sideKey("ab", "pa")]: sideWorld("pa", "a1", fenced("a1", 1)),
    [sideKey("ab", "pb")]: sideWorld("pb", "b1", fenced("b1", 1)),
  };
}

function observe(world: World, tokens: Record<string, string>, now: number): Observation {
  const sides: SideObservation[] = Object.entries(world).map(([key, w]) => {
    const [connection, pair] = key.split("/") as [string, string];
    return {
      connection,
      pair,
      routes: [...w.routes].map(([id, eni]) => {
        const [routeTable, destination] = id.split(" ") as [string, string];
        return { routeTable, destination, eni };
      }),
      fences: [...w.fences.values()],
    };
  });
  const members = Object.fromEntries(
    ["a1", "a2", "b1", "b2"].map((m) => [m, member(tokens[m] ?? "up")]),
  );
  return { now, members, sides };
}

/** EC2's view of a write: the tag on every table first, then the first `routes` routes. */
function apply(world: World, a: WriteRoutes, routes = a.routes.length): void {
  const w = world[sideKey(a.connection, a.pair)] as SideWorld;
  for (const rt of a.routeTables) w.fences.set(rt, fenced(a.target, a.epoch, a.decidedAt));
  for (const r of a.routes.slice(0, routes))
    w.routes.set(`${r.routeTable} ${r.destination}`, a.eni);
}

function outcome(r: DecideResult, pair: string): string {
  const parts = [
    ...r.events.filter((e) => e.pair === pair).map(describe),
    ...r.actions
      .filter((a) => a.pair === pair)
      .map((a) => `write ${a.target}#${a.epoch} [${a.routes.length}]`),
  ].filter((p) => p !== undefined);
  return parts.length === 0 ? "-" : parts.join(", ");
}

interface Sim {
  world: World;
  state: EngineState;
  now: number;
  results: DecideResult[];
}

interface RunOptions {
  policy?: Partial<FailoverPolicy>;
  world?: World;
  options?: EngineOptions;
  /** Called before the row with that index is observed. */
  before?: Record<number, (sim: Sim) => void>;
  /** How many of a row's route writes land: "fail" for none at all (not even the tag). */
  writes?: Record<number, number | "fail">;
}

/** Runs a table; returns the actual rows in the same format, so a mismatch diffs by row. */
function run(table: string, o: RunOptions = {}): { rows: string[]; expected: string[]; sim: Sim } {
  const [header, ...lines] = table
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/ {2,}/));
  const columns = header as string[];
  const isPair = (c: string) => c in SIDES;
  const f = fleet(o.policy);
  const world = structuredClone(o.world ?? defaultWorld());
  const sim: Sim = { world, state: initialState, now: T0, results: [] };
  const rows: string[] = [];
  lines.forEach((cells, i) => {
    o.before?.[i]?.(sim);
    const tokens = Object.fromEntries(columns.map((c, j) => [c, cells[j] as string]));
    const r = decide(f, sim.state, observe(sim.world, tokens, sim.now), o.options);
    const landing = o.writes?.[i];
    if (landing !== "fail") for (const a of r.actions) apply(sim.world, a, landing);
    sim.state = r.state;
    sim.results.push(r);
    sim.now += INTERVAL;
    rows.push(columns.map((c) => (isPair(c) ? outcome(r, c) : tokens[c])).join("  |  "));
  });
  const expected = lines.map((cells) => cells.join("  |  "));
  return { rows, expected, sim };
}

function check(t: Test, table: string, o: RunOptions = {}): Sim {
  const { rows, expected, sim } = run(table, o);
  t.same(rows, expected);
  return sim;
}

const PA = sideKey("ab", "pa");

t.test("steady state: adopt the fenced owner and write nothing", async (t) => {
  check(
    t,
    `
    a1   a2   pa                  pb
    up   up   adopt a1#1 fence    adopt b1#1 fence
    up   up   -                   -
    up   up   -                   -
    `,
  );
});

t.test(
  "the active member confirmed dead after `fall` ticks: routes move to the standby",
  async (t) => {
    const sim = check(
      t,
      `
    a1       a2   pa
    up       up   adopt a1#1 fence
    up       up   -
    stopped  up   -
    stopped  up   failover a1>a2#2 active-dead, write a2#2 [4]
    stopped  up   -
    stopped  up   -
    `,
    );
    const w = sim.world[PA] as SideWorld;
    t.same(new Set(w.routes.values()), new Set(["eni-a2"]), "every route of the side moved");
    t.same(
      [...w.fences.values()],
      [1, 2].map(() => fenced("a2", 2, T0 + 3 * INTERVAL)),
    );
    const failover = sim.results[3]?.events.find((e) => e.kind === "failover");
    t.match(failover, {
      at: T0 + 3 * INTERVAL,
      connection: "ab",
      pair: "pa",
      from: "a1",
      to: "a2",
    });
    t.equal(statusOf(sim.state.sides[PA]?.members.a1 as never), "dead");
  },
);

t.test("two signals: one alone never fails over, any own + outside pair does", async (t) => {
  // a1 is the routes' owner; a2's probe crosses a1. Own signals: agent unreachable, tunnel
  // down. Outside signals: a2's probe through a1 fails, EC2 stopped or impaired.
  const cases: [string, string, boolean][] = [
    ["noagent", "up", false],
    ["tundown", "up", false],
    ["tununknown", "up", false],
    ["impaired", "up", false],
    ["up", "probefail", false],
    ["tununknown", "probefail", false],
    ["noagent+ec2unknown", "up", false],
    ["noagent", "probefail", true],
    ["tundown", "probefail", true],
    ["noagent+impaired", "up", true],
    ["tundown+impaired", "up", true],
    ["tundown+stopped", "up", true],
    ["stopped", "up", true],
  ];
  for (const [a1, a2, fails] of cases) {
    const rows = ["a1  a2  pa", "up  up  x", "up  up  x", ...Array(6).fill(`${a1}  ${a2}  x`)];
    const { sim } = run(rows.join("\n"));
    const moved = sim.results.some((r) => r.actions.some((a) => a.pair === "pa"));
    t.equal(moved, fails, `a1 ${a1}, a2 ${a2}`);
  }
});

t.test("fall/rise: bad stretches shorter than `fall` change nothing", async (t) => {
  check(
    t,
    `
    a1       a2   pa
    up       up   adopt a1#1 fence
    up       up   -
    stopped  up   -
    up       up   -
    stopped  up   -
    up       up   -
    stopped  up   -
    up       up   -
    `,
  );
});

t.test(
  "no healthy target: nothing changes and an alarm is raised until one is eligible",
  async (t) => {
    check(
      t,
      `
    a1       a2       pa
    up       up       adopt a1#1 fence
    up       up       -
    stopped  tundown  -
    stopped  tundown  alarm active-dead a2=unready
    stopped  up       -
    stopped  up       -
    stopped  up       -
    stopped  up       -
    stopped  up       -
    stopped  up       -
    stopped  up       failover a1>a2#2 active-dead, alarm-cleared, write a2#2 [4]
    `,
    );
  },
);

t.test("a standby without a working tunnel to the far active is never a target", async (t) => {
  check(
    t,
    `
    a1       a2          pa
    up       up          adopt a1#1 fence
    up       up          -
    stopped  tununknown  -
    stopped  tununknown  alarm active-dead a2=unready
    stopped  tundown     -
    stopped  tundown     -
    stopped  noagent     -
    `,
  );
});

t.test("the far pair's active dies: the near side waits, the far side fails over", async (t) => {
  // b1 stopped: both a-members lose their tunnel to the far active and a2's probe fails, so
  // a1 is dead on side pa but a2 cannot help; side pb moves to b2, after which the adapter
  // reports the a-tunnels towards b2 (up again) and side pa recovers in place.
  check(
    t,
    `
    a1       a2                 b1       b2  pa                                pb
    up       up                 up       up  adopt a1#1 fence                  adopt b1#1 fence
    up       up                 up       up  -                                 -
    tundown  tundown+probefail  stopped  up  -                                 -
    tundown  tundown+probefail  stopped  up  alarm active-dead a2=unready      failover b1>b2#2 active-dead, write b2#2 [1]
    up       up                 stopped  up  -                                 -
    up       up                 stopped  up  alarm-cleared                     -
    up       up                 stopped  up  -                                 -
    `,
  );
});

t.test("preemption: back to the preferred member only after its hold-down", async (t) => {
  check(
    t,
    `
    a1       a2   pa
    up       up   adopt a1#1 fence
    up       up   -
    stopped  up   -
    stopped  up   failover a1>a2#2 active-dead, write a2#2 [4]
    up       up   -
    up       up   -
    up       up   -
    up       up   -
    up       up   -
    up       up   -
    up       up   failover a2>a1#3 preempt, write a1#3 [4]
    up       up   -
    `,
    { policy: { preempt: true } },
  );
});

t.test("without preemption the routes stay on a healthy member", async (t) => {
  const rows = [
    "a1  a2  pa",
    "up  up  adopt a1#1 fence",
    "up  up  -",
    "stopped  up  -",
    "stopped  up  failover a1>a2#2 active-dead, write a2#2 [4]",
    ...Array(20).fill("up  up  -"),
  ];
  check(t, rows.join("\n"));
});

t.test("side hold-down: a second move waits a full hold-down after the first", async (t) => {
  // Preempted back to a1 at row 10; a1 dies at once. a2 is healthy (it never failed), but
  // the side moved less than a hold-down ago, so the routes wait.
  check(
    t,
    `
    a1       a2   pa
    up       up   adopt a1#1 fence
    up       up   -
    stopped  up   -
    stopped  up   failover a1>a2#2 active-dead, write a2#2 [4]
    up       up   -
    up       up   -
    up       up   -
    up       up   -
    up       up   -
    up       up   -
    up       up   failover a2>a1#3 preempt, write a1#3 [4]
    stopped  up   -
    stopped  up   alarm active-dead a2=side-hold-down
    stopped  up   -
    stopped  up   -
    stopped  up   failover a1>a2#4 active-dead, alarm-cleared, write a2#4 [4]
    `,
    { policy: { preempt: true } },
  );
});

t.test(
  "level-triggered: only drifting routes are written, towards the current decision",
  async (t) => {
    const tamper = (eni: string | null) => (sim: Sim) => {
      (sim.world[PA] as SideWorld).routes.set("rtb-a2 10.3.0.0/16", eni);
    };
    check(
      t,
      `
    a1   a2   pa
    up   up   adopt a1#1 fence
    up   up   -
    up   up   heal a1#1 routes=1, write a1#1 [1]
    up   up   -
    up   up   heal a1#1 routes=1, write a1#1 [1]
    up   up   heal a1#1 routes=1, write a1#1 [1]
    `,
      { before: { 2: tamper("eni-a2"), 4: tamper(null), 5: tamper("eni-elsewhere") } },
    );
  },
);

t.test("a fence tag deleted from every table is written back, routes untouched", async (t) => {
  check(
    t,
    `
    a1   a2   pa
    up   up   adopt a1#1 fence
    up   up   -
    up   up   heal a1#1 routes=0, write a1#1 [0]
    up   up   -
    `,
    { before: { 2: (sim) => (sim.world[PA] as SideWorld).fences.clear() } },
  );
});

t.test("drift towards an owner that is not healthy is left alone", async (t) => {
  check(
    t,
    `
    a1       a2   pa
    noagent  up   adopt a1#1 fence
    noagent  up   -
    noagent  up   -
    `,
    { before: { 1: (sim) => (sim.world[PA] as SideWorld).routes.set("rtb-a1 10.2.0.0/16", null) } },
  );
});

t.test(
  "a write that does not land is retried with the same epoch, one failover event",
  async (t) => {
    check(
      t,
      `
    a1       a2   pa
    up       up   adopt a1#1 fence
    up       up   -
    stopped  up   -
    stopped  up   failover a1>a2#2 active-dead, write a2#2 [4]
    stopped  up   write a2#2 [4]
    stopped  up   heal a2#2 routes=3, write a2#2 [3]
    stopped  up   -
    `,
      { writes: { 3: "fail", 4: 1 } },
    );
  },
);

t.test("an unlanded move is dropped when its reason is gone", async (t) => {
  // The failover write never lands and a1 comes back (dead until `rise` good ticks, so the
  // write is retried once): the world still says a1, so the engine stays there instead of
  // completing a move nobody needs.
  check(
    t,
    `
    a1       a2   pa
    up       up   adopt a1#1 fence
    up       up   -
    stopped  up   -
    stopped  up   failover a1>a2#2 active-dead, write a2#2 [4]
    up       up   write a2#2 [4]
    up       up   -
    up       up   -
    `,
    { writes: { 3: "fail", 4: "fail" } },
  );
});

t.test(
  "fencing: a newer epoch from someone else makes the engine stand down, then follow",
  async (t) => {
    const external = (sim: Sim) => {
      (sim.world as World)[PA] = sideWorld("pa", "a2", fenced("a2", 41, sim.now));
    };
    check(
      t,
      `
    a1   a2       pa
    up   up       adopt a1#1 fence
    up   up       -
    up   up       stand-down a2#41
    up   up       -
    up   stopped  -
    up   stopped  alarm active-dead a1=side-hold-down
    up   stopped  -
    up   stopped  failover a2>a1#42 active-dead, alarm-cleared, write a1#42 [4]
    `,
      { before: { 2: external } },
    );
  },
);

t.test("fencing: the stand-down tick has no actions even when the engine would act", async (t) => {
  // a1 is dead and the engine is about to move when another controller's decision (a1 again,
  // newer epoch) appears: no write this tick, and the next decision outranks it.
  check(
    t,
    `
    a1       a2   pa
    up       up   adopt a1#1 fence
    up       up   -
    stopped  up   -
    stopped  up   stand-down a1#7
    stopped  up   failover a1>a2#8 active-dead, write a2#8 [4]
    `,
    {
      before: {
        3: (sim) => (sim.world[PA] as SideWorld).fences.set("rtb-a1", fenced("a1", 7, 0)),
      },
    },
  );
});

t.test("fencing: equal epochs are ordered by member name, so all controllers agree", async (t) => {
  const mixed = (sim: Sim) => {
    const w = sim.world[PA] as SideWorld;
    w.fences.set("rtb-a1", fenced("a1", 3, 0));
    w.fences.set("rtb-a2", fenced("a2", 3, 0));
  };
  check(
    t,
    `
    a1   a2   pa
    up   up   adopt a1#1 fence
    up   up   -
    up   up   stand-down a2#3
    up   up   heal a2#3 routes=4, write a2#3 [4]
    up   up   -
    `,
    { before: { 2: mixed } },
  );
});

t.test("restart with empty state: adopt what EC2 shows, do not flap", async (t) => {
  const restart = (sim: Sim) => {
    sim.state = initialState;
  };
  // Failover to a2, then a controller restart while a1 is healthy again and preemption is on:
  // the new engine adopts a2 and preempts only after witnessing a full hold-down of a1.
  check(
    t,
    `
    a1       a2   pa
    up       up   adopt a1#1 fence
    up       up   -
    stopped  up   -
    stopped  up   failover a1>a2#2 active-dead, write a2#2 [4]
    up       up   adopt a2#2 fence
    up       up   -
    up       up   -
    up       up   -
    up       up   -
    up       up   -
    up       up   failover a2>a1#3 preempt, write a1#3 [4]
    `,
    { policy: { preempt: true }, before: { 4: restart } },
  );
});

t.test(
  "restart without fence tags: adopt the routes' target, or claim a side with none",
  async (t) => {
    const steady = ["a1  a2  pa", "up  up  adopt a2#0 routes", ...Array(8).fill("up  up  -")];
    check(t, steady.join("\n"), { world: { [PA]: sideWorld("pa", "a2") } });

    check(
      t,
      `
    a1   a2   pa
    up   up   adopt -#0 none, alarm no-active a1=unknown a2=unknown
    up   up   failover ->a1#1 no-active, alarm-cleared, write a1#1 [4]
    up   up   -
    `,
      { world: { [PA]: sideWorld("pa", null) } },
    );

    const split = sideWorld("pa", "a2");
    split.routes.set("rtb-a1 10.2.0.0/16", "eni-a1");
    check(
      t,
      `
    a1   a2   pa
    up   up   adopt -#0 none, alarm no-active a1=unknown a2=unknown
    up   up   failover ->a1#1 no-active, alarm-cleared, write a1#1 [3]
    up   up   -
    `,
      { world: { [PA]: split } },
    );
  },
);

t.test("a side EC2 could not be read is left alone", async (t) => {
  const f = fleet();
  const first = decide(f, initialState, observe(defaultWorld(), {}, T0));
  const obs = observe(defaultWorld(), { a1: "stopped" }, T0 + INTERVAL);
  const r = decide(f, first.state, { ...obs, sides: [] });
  t.same(r.actions, []);
  t.same(r.events, []);
  t.equal(r.state.sides[PA], first.state.sides[PA], "state kept as it was");
});

t.test("member-health-changed events carry the signals behind the change", async (t) => {
  const { sim } = run(
    `
    a1                a2   pa
    up                up   x
    up                up   x
    tundown+impaired  up   x
    tundown+impaired  up   x
    `,
  );
  const changes = sim.results.flatMap((r) =>
    r.events.filter((e) => e.kind === "member-health-changed" && e.pair === "pa"),
  );
  t.match(changes, [
    { member: "a1", from: "unknown", to: "healthy", signals: [] },
    { member: "a2", from: "unknown", to: "healthy" },
    { member: "a1", from: "healthy", to: "dead", signals: ["tunnel-down", "ec2-impaired"] },
  ]);
});

t.test("co-located: each controller claims only for itself, never both", async (t) => {
  const both = (table: string, o: RunOptions = {}) => ({
    a1: run(table, { ...o, options: { self: "a1" } }),
    a2: run(table, { ...o, options: { self: "a2" } }),
  });
  const writers = (r: { sim: Sim }) =>
    r.sim.results.map((x) => x.actions.map((a) => `${a.pair}:${a.target}`).join(","));

  // The owner dies: only a2's controller moves the routes, and only towards a2.
  const dies = ["a1  a2  pa", "up  up  x", "up  up  x", "stopped  up  x", "stopped  up  x"];
  const back = Array(12).fill("up  up  x");
  const d = both([...dies, ...back].join("\n"), { policy: { preempt: true } });
  const none = Array(back.length).fill("");
  t.same(writers(d.a1), ["", "", "", "", ...none], "a1 never writes, and never preempts");
  t.same(writers(d.a2), ["", "", "", "pa:a2", ...none]);
  t.notOk(
    [...d.a1.sim.results, ...d.a2.sim.results].some((r) => r.events.some((e) => e.pair === "pb")),
    "a controller leaves the other pair's side alone",
  );

  // Drift while a1 owns the side: only a1's controller heals it.
  const tamper = (sim: Sim) => (sim.world[PA] as SideWorld).routes.set("rtb-a1 10.2.0.0/16", null);
  const drift = both("a1  a2  pa\nup  up  x\nup  up  x\nup  up  x\nup  up  x", {
    before: { 2: tamper },
  });
  t.same(writers(drift.a1), ["", "", "pa:a1", ""]);
  t.same(writers(drift.a2), ["", "", "", ""]);

  // One signal only: nobody claims.
  const suspect = both(`a1  a2  pa\n${Array(8).fill("noagent  up  x").join("\n")}`);
  t.same([...writers(suspect.a1), ...writers(suspect.a2)].join(""), "");

  // A side with no routes: the preferred member claims; the other only if it is not healthy.
  const empty = { world: { [PA]: sideWorld("pa", null) } };
  const e1 = both("a1  a2  pa\nup  up  x\nup  up  x\nup  up  x", empty);
  t.same(writers(e1.a1), ["", "pa:a1", ""]);
  t.same(writers(e1.a2), ["", "", ""]);
  const e2 = both("a1  a2  pa\nnoagent  up  x\nnoagent  up  x\nnoagent  up  x", empty);
  t.same(writers(e2.a1), ["", "", ""]);
  t.same(writers(e2.a2), ["", "pa:a2", ""]);
});

t.test("co-located: two engines sharing one world converge on one owner", async (t) => {
  const f = fleet();
  const world = defaultWorld();
  const states: Record<string, EngineState> = { a1: initialState, a2: initialState };
  const down = { a1: "stopped" };
  const tokens: Record<string, string>[] = [{}, {}, down, down, down, {}, {}, {}];
  const owners: string[] = [];
  tokens.forEach((tk, i) => {
    const obs = observe(world, tk, T0 + i * INTERVAL);
    const results = ["a1", "a2"].map((self) => {
      const r = decide(f, states[self] as EngineState, obs, { self });
      states[self] = r.state;
      return r;
    });
    t.ok(results.filter((r) => r.actions.length > 0).length <= 1, `tick ${i}: one writer at most`);
    for (const r of results) for (const a of r.actions) apply(world, a);
    owners.push([...(world[PA] as SideWorld).fences.values()].map((x) => x.active).join());
  });
  t.same(owners, ["a1,a1", "a1,a1", "a1,a1", "a2,a2", "a2,a2", "a2,a2", "a2,a2", "a2,a2"]);
});

t.test("an unknown self is a programming error", async (t) => {
  t.throws(() => decide(fleet(), initialState, observe(defaultWorld(), {}, T0), { self: "zz" }));
});
