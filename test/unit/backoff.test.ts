import t from "tap";
import { nextRestartDelay } from "../../agent/src/charon/backoff.ts";

t.test("the first crash restarts at once, repeated ones back off up to the cap", async (t) => {
  const policy = { initialMs: 100, maxMs: 1000, resetAfterMs: 30_000 };
  t.same(
    [1, 2, 3, 4, 5, 6, 7].map((n) => nextRestartDelay(n, policy)),
    [0, 100, 200, 400, 800, 1000, 1000],
  );
});
