import fc from "fast-check";
import t from "tap";
import { decide, initialState, sideKey, statusOf } from "../../control-plane/src/decide/engine.ts";
import type {
  DecideResult,
  Ec2State,
  EngineOptions,
  EngineState,
  FenceTag,
  MemberObservation,
  Observation,
  TunnelState,
  WriteRoutes,
} from "../../control-plane/src/decide/types.ts";
import type { FailoverPolicy, Fleet } from "../../control-plane/src/fleet/types.ts";
import { twoPairFleet } from "../fixtures/fleets.ts";

/*
 * Random worlds: members whose signals change in runs, ticks that come late, writes that
 * fail or land partly (tag first, as the adapter promises), routes tampered with and fences
 * written by another controller. fast-check prints the seed and path of any failure; set
 * FC_SEED to replay one.
 */

const INTERVAL = 1000;
const MEMBERS = ["a1", "a2", "b1", "b2"] as const;
const PAIRS = { pa: ["a1", "a2"], pb: ["b1", "b2"] } as const;
type PairName = keyof typeof PAIRS;
const TABLES = { pa: ["rtb-a1", "rtb-a2"], pb: ["rtb-b"] };
/** One route per table: the far VPC has one CIDR. */
const FAR_CIDR = { pa: "10.2.0.0/16", pb: "10.1.0.0/16" };

function fleet(policy: FailoverPolicy): Fleet {
  return twoPairFleet(policy, { preferredB: "b2" });
}

const policyArb: fc.Arbitrary<FailoverPolicy> = fc.record({
  intervalMs: fc.constant(INTERVAL),
  fall: fc.integer({ min: 1, max: 3 }),
  rise: fc.integer({ min: 1, max: 3 }),
  holdDownMs: fc.integer({ min: 0, max: 6 }).map((n) => n * INTERVAL),
  preempt: fc.boolean(),
});

const FINE: MemberObservation = {
  agentReachable: true,
  tunnels: { ab: "up" },
  pathProbes: { ab: true },
  ec2: "running",
};

/** Fine half of the time, so that failovers have somewhere to go. */
const memberArb: fc.Arbitrary<MemberObservation> = fc.oneof(
  fc.constant(FINE),
  fc.record({
    agentReachable: fc.boolean(),
    tunnels: fc.constantFrom<TunnelState>("up", "down", "unknown").map((ab) => ({ ab })),
    pathProbes: fc.option(
      fc.boolean().map((ab) => ({ ab })),
      { nil: undefined },
    ),
    ec2: fc.constantFrom<Ec2State>("running", "stopped", "impaired", "unknown"),
  }),
);

/** What EC2 holds for one side, per route table: the route's ENI and the fence tag. */
type SideWorld = Record<string, { eni: string | null; fence?: FenceTag }>;
type World = Record<PairName, SideWorld>;

type Tamper =
  | { kind: "route"; pair: PairName; table: number; eni: string | null }
  | { kind: "fence"; pair: PairName; member: 0 | 1; bump: number };

interface Step {
  /** Per member: a new observation, or null to keep the previous one (signals come in runs). */
  members: (MemberObservation | null)[];
  /** Time since the previous tick: late ticks happen. */
  elapsed: number;
  /** How many of each write's routes land; -1: the write fails entirely, tag included. */
  landing: number;
  tamper: Tamper | null;
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  members: fc.array(fc.oneof({ arbitrary: fc.constant(null), weight: 4 }, memberArb), {
    minLength: MEMBERS.length,
    maxLength: MEMBERS.length,
  }),
  elapsed: fc.constantFrom(INTERVAL, INTERVAL, INTERVAL, 2 * INTERVAL, 3 * INTERVAL),
  landing: fc.constantFrom(99, 99, 99, 99, 1, 0, -1),
  tamper: fc.option(
    fc.oneof(
      fc.record({
        kind: fc.constant("route" as const),
        pair: fc.constantFrom<PairName>("pa", "pb"),
        table: fc.nat(1),
        eni: fc.constantFrom("eni-a1", "eni-a2", "eni-b1", "eni-x", null),
      }),
      fc.record({
        kind: fc.constant("fence" as const),
        pair: fc.constantFrom<PairName>("pa", "pb"),
        member: fc.constantFrom<0 | 1>(0, 1),
        bump: fc.integer({ min: 0, max: 2 }),
      }),
    ),
    { freq: 8, nil: null },
  ),
});

/** The world to start from: routes all at one member, missing, or split; fenced or not. */
const worldArb: fc.Arbitrary<World> = fc
  .record({
    pa: fc.constantFrom("a1", "a2", null, "split"),
    pb: fc.constantFrom("b1", "b2", null, "split"),
    fenced: fc.boolean(),
  })
  .map((w) => {
    const side = (pair: PairName): SideWorld => {
      const owner = w[pair];
      const fence = w.fenced && owner !== null && owner !== "split";
      return Object.fromEntries(
        TABLES[pair].map((rt, i) => {
          const target = owner === "split" ? PAIRS[pair][i % 2] : owner;
          const eni = target === null ? null : `eni-${target}`;
          return [rt, fence ? { eni, fence: { active: owner, epoch: 3, at: 0 } } : { eni }];
        }),
      );
    };
    return { pa: side("pa"), pb: side("pb") };
  });

interface Scenario {
  policy: FailoverPolicy;
  world: World;
  steps: Step[];
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  policy: policyArb,
  world: worldArb,
  steps: fc.array(stepArb, { minLength: 1, maxLength: 60 }),
});

function observe(world: World, members: MemberObservation[], now: number): Observation {
  return {
    now,
    members: Object.fromEntries(MEMBERS.map((m, i) => [m, members[i] as MemberObservation])),
    sides: (["pa", "pb"] as const).map((pair) => {
      const tables = Object.entries(world[pair]);
      return {
        connection: "ab",
        pair,
        routes: tables.map(([routeTable, r]) => ({
          routeTable,
          destination: FAR_CIDR[pair],
          eni: r.eni,
        })),
        fences: tables.flatMap(([, r]) => (r.fence ? [r.fence] : [])),
      };
    }),
  };
}

/** EC2's view of a write: the tag on every table, then the first `landing` routes. */
function apply(world: World, a: WriteRoutes, landing: number): void {
  if (landing < 0) return;
  const side = world[a.pair as PairName];
  const fence = { active: a.target, epoch: a.epoch, at: a.decidedAt };
  for (const rt of a.routeTables) (side[rt] as SideWorld[string]).fence = fence;
  for (const r of a.routes.slice(0, landing)) (side[r.routeTable] as SideWorld[string]).eni = a.eni;
}

function tamper(world: World, x: Tamper, now: number): void {
  const side = Object.values(world[x.pair]);
  if (x.kind === "route") {
    (side[x.table % side.length] as SideWorld[string]).eni = x.eni;
    return;
  }
  // Another controller's decision, at or above the newest epoch on the side.
  const top = Math.max(0, ...side.map((r) => r.fence?.epoch ?? 0));
  const fence = { active: PAIRS[x.pair][x.member], epoch: top + x.bump, at: now };
  for (const r of side) r.fence = fence;
}

interface Tick {
  now: number;
  /** The world as observed for this tick, before the writes. */
  world: World;
  /** Per engine: its state before the tick, and what it decided. */
  before: EngineState[];
  results: DecideResult[];
}

/**
 * Runs a scenario with one engine per options entry, all fed the same observations and all
 * writing to the same world, and calls `check` after every tick.
 */
function simulate(s: Scenario, engines: EngineOptions[], check: (tick: Tick) => void): void {
  const f = fleet(s.policy);
  const world = structuredClone(s.world);
  let states = engines.map(() => initialState);
  let members: MemberObservation[] = MEMBERS.map(() => FINE);
  let now = 1_000_000;
  for (const step of s.steps) {
    now += step.elapsed;
    members = members.map((m, i) => step.members[i] ?? m);
    if (step.tamper) tamper(world, step.tamper, now);
    const obs = observe(world, members, now);
    const results = engines.map((o, i) => decide(f, states[i] as EngineState, obs, o));
    check({ now, world: structuredClone(world), before: states, results });
    states = results.map((r) => r.state);
    for (const r of results) for (const a of r.actions) apply(world, a, step.landing);
  }
}

const runs = { numRuns: 1000, seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined };

/** Who the side belongs to in the observed world: the newest fence, else the routes' single target. */
function owner(side: SideWorld): string | undefined {
  const fences = Object.values(side).flatMap((r) => (r.fence ? [r.fence] : []));
  const top = fences.sort((x, y) => y.epoch - x.epoch || (y.active < x.active ? -1 : 1))[0];
  if (top) return top.active;
  const enis = new Set(Object.values(side).map((r) => r.eni));
  enis.delete(null);
  return enis.size === 1 ? ([...enis][0] as string).slice("eni-".length) : undefined;
}

function timed(t: Tap, name: string, fn: () => void): void {
  t.test(name, async (t) => {
    const started = performance.now();
    fn();
    t.pass(`${name}: ${Math.round(performance.now() - started)} ms`);
  });
}
type Tap = typeof t;

timed(t, "(1) no side's routes move more than once per hold-down", () => {
  fc.assert(
    fc.property(scenarioArb, (s) => {
      const lastMove: Record<string, number> = {};
      const lastFailover: Record<string, number> = {};
      const written = new Set<string>();
      simulate(s, [{}], ({ now, world, results }) => {
        const r = results[0] as DecideResult;
        for (const a of r.actions) {
          const key = sideKey(a.connection, a.pair);
          // A move: a decision not written before, towards someone else than the owner, that
          // writes routes. A tag-only write (someone else's tag corrected) moves no traffic.
          const decision = `${key}#${a.epoch}`;
          const owned = owner(world[a.pair as PairName]);
          if (!written.has(decision) && a.routes.length > 0 && a.target !== owned) {
            const since = now - (lastMove[key] ?? Number.NEGATIVE_INFINITY);
            if (since < s.policy.holdDownMs)
              throw new Error(`${key} moved again after ${since} ms`);
            lastMove[key] = now;
          }
          written.add(decision);
        }
        for (const e of r.events) {
          if (e.kind !== "failover") continue;
          const key = sideKey(e.connection, e.pair);
          const since = e.at - (lastFailover[key] ?? Number.NEGATIVE_INFINITY);
          if (since < s.policy.holdDownMs) throw new Error(`${key} failover after ${since} ms`);
          lastFailover[key] = e.at;
        }
      });
    }),
    runs,
  );
});

timed(t, "(2) a write never targets a member the engine does not mark healthy", () => {
  fc.assert(
    fc.property(scenarioArb, (s) => {
      simulate(s, [{}], ({ results }) => {
        const r = results[0] as DecideResult;
        for (const a of r.actions) {
          const h = r.state.sides[sideKey(a.connection, a.pair)]?.members[a.target];
          const status = h === undefined ? "missing" : statusOf(h);
          if (status !== "healthy") throw new Error(`wrote towards ${a.target}, ${status}`);
        }
      });
    }),
    runs,
  );
});

timed(t, "(3) with no healthy member nothing is written, and an alarm is raised", () => {
  fc.assert(
    fc.property(scenarioArb, (s) => {
      simulate(s, [{}], ({ before, results }) => {
        const r = results[0] as DecideResult;
        const prev = before[0] as EngineState;
        for (const [key, side] of Object.entries(r.state.sides)) {
          const statuses = Object.values(side.members).map(statusOf);
          if (statuses.includes("healthy")) continue;
          if (r.actions.some((a) => sideKey(a.connection, a.pair) === key)) {
            throw new Error(`${key}: write with members ${statuses}`);
          }
          if (!statuses.every((x) => x === "unready" || x === "dead")) continue;
          const raised = r.events.some(
            (e) => e.kind === "alarm-no-healthy-target" && sideKey(e.connection, e.pair) === key,
          );
          if (side.alarm === undefined || !(raised || prev.sides[key]?.alarm)) {
            throw new Error(`${key}: no alarm with members ${statuses}`);
          }
        }
      });
    }),
    runs,
  );
});

timed(t, "(4) two co-located engines never both claim the same side in one tick", () => {
  fc.assert(
    fc.property(scenarioArb, (s) => {
      const selves = ["a1", "a2"];
      simulate(
        s,
        selves.map((self) => ({ self })),
        ({ results }) => {
          results.forEach((r, i) => {
            for (const a of r.actions) {
              if (a.target !== selves[i]) throw new Error(`${selves[i]} wrote for ${a.target}`);
            }
          });
          const writers = results.filter((r) => r.actions.some((a) => a.pair === "pa"));
          if (writers.length > 1) throw new Error("both co-located engines wrote side pa");
        },
      );
    }),
    runs,
  );
});
