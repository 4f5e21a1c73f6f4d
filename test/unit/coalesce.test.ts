import t from "tap";
import { coalesce } from "../../agent/src/coalesce.ts";

/** A task whose runs the test finishes by hand; counts runs and how many ran at once. */
function gatedTask() {
  const gates: { resolve(): void; reject(e: Error): void }[] = [];
  const stats = { runs: 0, active: 0, maxActive: 0 };
  const task = () =>
    new Promise<void>((resolve, reject) => {
      stats.runs++;
      stats.active++;
      stats.maxActive = Math.max(stats.maxActive, stats.active);
      gates.push({
        resolve: () => {
          stats.active--;
          resolve();
        },
        reject: (e) => {
          stats.active--;
          reject(e);
        },
      });
    });
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return { task, gates, stats, settle };
}

t.test("a burst of calls is one run in flight and one queued", async (t) => {
  const { task, gates, stats, settle } = gatedTask();
  const refresh = coalesce(task);
  const done: number[] = [];
  const calls = Array.from({ length: 10 }, (_, i) => refresh().then(() => done.push(i)));
  await settle();
  t.equal(stats.runs, 1, "one run started");
  gates[0]?.resolve();
  await settle();
  t.same(done, [0], "the first call settles with the first run");
  t.equal(stats.runs, 2, "the other nine share one more run");
  gates[1]?.resolve();
  await Promise.all(calls);
  t.same(done, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.equal(stats.runs, 2);
  t.equal(stats.maxActive, 1, "never two at once");

  const later = refresh();
  await settle();
  t.equal(stats.runs, 3, "a call after the burst runs again");
  gates[2]?.resolve();
  await later;
});

t.test("a failed run rejects its callers; the queued run still runs", async (t) => {
  const { task, gates, stats, settle } = gatedTask();
  const refresh = coalesce(task);
  const first = refresh();
  const second = refresh();
  await settle();
  gates[0]?.reject(new Error("charon went away"));
  await t.rejects(first, /charon went away/);
  await settle();
  t.equal(stats.runs, 2);
  gates[1]?.resolve();
  await t.resolves(second);
});
