import fc from "fast-check";
import t from "tap";
import {
  type Health,
  initialRiseFall,
  next,
  type RiseFallThresholds,
} from "../../common/rise-fall.ts";

/** Runs a sequence written as "+" (success) and "-" (failure); returns the health after each. */
function trace(results: string, thresholds: RiseFallThresholds): Health[] {
  let state = initialRiseFall;
  return [...results].map((c) => {
    state = next(state, c === "+", thresholds);
    return state.health;
  });
}

/** One letter per step: u unknown, U up, D down. */
function letters(healths: Health[]): string {
  return healths.map((h) => ({ unknown: "u", up: "U", down: "D" })[h]).join("");
}

t.test("table: rise 2, fall 3", async (t) => {
  const rows: [string, string][] = [
    ["", ""],
    ["+", "u"],
    ["++", "uU"],
    ["--", "uu"],
    ["---", "uuD"],
    ["++--", "uUUU"],
    ["++---", "uUUUD"],
    ["++---+", "uUUUDD"],
    ["++---++", "uUUUDDU"],
    ["---+-++", "uuDDDDU"],
    ["+-+-+-", "uuuuuu"],
    ["+-++", "uuuU"],
    ["--+---", "uuuuuD"],
  ];
  for (const [input, expected] of rows) {
    t.equal(letters(trace(input, { rise: 2, fall: 3 })), expected, JSON.stringify(input));
  }
});

t.test("from unknown the first threshold reached decides", async (t) => {
  t.equal(letters(trace("+--", { rise: 3, fall: 2 })), "uuD");
  t.equal(letters(trace("-+++", { rise: 3, fall: 2 })), "uuuU");
  t.equal(letters(trace("-", { rise: 1, fall: 1 })), "D");
  t.equal(letters(trace("+", { rise: 1, fall: 1 })), "U");
});

t.test("flapping shorter than the thresholds never changes an established state", async (t) => {
  const th = { rise: 3, fall: 3 };
  t.equal(letters(trace(`+++${"--+".repeat(10)}`, th)).slice(3), "U".repeat(30));
  t.equal(letters(trace(`---${"++-".repeat(10)}`, th)).slice(3), "D".repeat(30));
  t.equal(letters(trace("+-".repeat(20), { rise: 2, fall: 2 })), "u".repeat(40));
});

t.test("is immutable", async (t) => {
  const before = next(initialRiseFall, true, { rise: 2, fall: 2 });
  const after = next(before, true, { rise: 2, fall: 2 });
  t.same(before, { health: "unknown", successes: 1, failures: 0 });
  t.same(after, { health: "up", successes: 2, failures: 0 });
  t.ok(Object.isFrozen(after));
  t.same(initialRiseFall, { health: "unknown", successes: 0, failures: 0 });
});

t.test(
  "property: changes happen exactly at `fall` failures or `rise` successes in a row",
  async (t) => {
    const arb = fc.record({
      rise: fc.integer({ min: 1, max: 6 }),
      fall: fc.integer({ min: 1, max: 6 }),
      results: fc.array(fc.boolean(), { maxLength: 80 }),
    });
    fc.assert(
      fc.property(arb, ({ rise, fall, results }) => {
        let state = initialRiseFall;
        let run = 0; // +n: n successes in a row, -n: n failures in a row
        for (const ok of results) {
          run = ok ? Math.max(run, 0) + 1 : Math.min(run, 0) - 1;
          const prev = state.health;
          state = next(state, ok, { rise, fall });
          if (state.successes !== Math.max(run, 0) || state.failures !== Math.max(-run, 0)) {
            return false;
          }
          const expected = run >= rise ? "up" : -run >= fall ? "down" : prev;
          if (state.health !== expected) return false;
          if (state.health !== prev && run !== rise && run !== -fall) return false;
        }
        return true;
      }),
      { numRuns: 2000 },
    );
    t.pass("property held");
  },
);
