import { DescribeInstancesCommand, DescribeRouteTablesCommand } from "@aws-sdk/client-ec2";
import t, { type Test } from "tap";
import {
  CallCancelled,
  type CallGuard,
  Ec2,
  Ec2Error,
  type Ec2Options,
} from "../../control-plane/src/ec2/client.ts";
import { FaultProxy } from "../helpers/fault-proxy.ts";
import { startMoto } from "../helpers/moto.ts";

/**
 * The EC2 client's per-call guard against a real moto server behind the fault proxy: a
 * deadline ends a call however it is stuck, a refusing check sends nothing, a refusing
 * beforeRetry stops the retries, and lanes share the attempt slots in turn, so a lane whose
 * calls hang cannot hold another lane's call behind its whole queue.
 */

const moto = await startMoto(t);
const proxy = await FaultProxy.start(moto.endpoint);
t.teardown(() => proxy.close());

function client(t: Test, options: Partial<Ec2Options>): Ec2 {
  const ec2 = new Ec2({ region: "eu-west-1", endpoint: proxy.endpoint }, options);
  t.teardown(() => ec2.destroy());
  return ec2;
}

const readTables = (ec2: Ec2, guard?: CallGuard) =>
  ec2.call(
    "DescribeRouteTables",
    (sdk, o) => sdk.send(new DescribeRouteTablesCommand({}), o),
    guard,
  );
const readInstances = (ec2: Ec2, guard?: CallGuard) =>
  ec2.call("DescribeInstances", (sdk, o) => sdk.send(new DescribeInstancesCommand({}), o), guard);

/** The call's Ec2Error (fails the test if it resolved), and how long it took. */
async function failure(call: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  const error = await call.then(
    () => new Error("the call succeeded"),
    (e: unknown) => e,
  );
  return { error, ms: performance.now() - started };
}

t.beforeEach(() => proxy.reset());

t.test("a deadline ends a call stuck in retries, within the deadline", async (t) => {
  // Generous attempts and backoff: without the deadline this call would take many seconds.
  const ec2 = client(t, { maxAttempts: 50, baseDelayMs: 50, maxDelayMs: 200, callTimeoutMs: 2000 });
  proxy.rule(({ action }) =>
    action === "DescribeRouteTables" ? { kind: "server-error" } : undefined,
  );
  const deadline = performance.now() + 600;
  const { error, ms } = await failure(readTables(ec2, { deadline: () => deadline }));
  t.ok(error instanceof Ec2Error, String(error));
  t.match(error, { outcome: "cancelled", code: "deadline" });
  t.ok(ms <= 600 + 300, `ended in ${Math.round(ms)} ms (deadline 600 ms)`);
  const sent = proxy.count("DescribeRouteTables");
  t.ok(sent >= 2 && sent < 50, `retried until the deadline, then stopped: ${sent} requests`);
  t.equal(ec2.calls.count("DescribeRouteTables", "cancelled"), 1, "counted as cancelled");
});

t.test("a deadline cuts a hanging attempt short, not at the attempt timeout", async (t) => {
  const ec2 = client(t, { maxAttempts: 5, callTimeoutMs: 10_000 });
  proxy.inject("DescribeRouteTables", { kind: "latency", ms: 8000 });
  const deadline = performance.now() + 500;
  const { error, ms } = await failure(readTables(ec2, { deadline: () => deadline }));
  t.match(error, { name: "Ec2Error", outcome: "cancelled", code: "deadline" });
  t.ok(ms <= 500 + 300, `ended in ${Math.round(ms)} ms, not after the 8 s answer`);
  t.equal(proxy.count("DescribeRouteTables"), 1, "one attempt, no retry past the deadline");
});

t.test("a deadline already passed sends nothing", async (t) => {
  const ec2 = client(t, {});
  const { error } = await failure(readTables(ec2, { deadline: () => performance.now() - 1 }));
  t.match(error, { outcome: "cancelled", code: "deadline", attempts: 0 });
  t.equal(proxy.count(), 0, "no request reached the proxy");
});

t.test("a check that throws stops the call before anything is sent", async (t) => {
  const ec2 = client(t, {});
  let checks = 0;
  const superseded = await failure(
    readTables(ec2, {
      check: () => {
        checks++;
        throw new CallCancelled("superseded", "the side's decision changed");
      },
    }),
  );
  t.match(superseded.error, {
    name: "Ec2Error",
    outcome: "cancelled",
    code: "superseded",
    attempts: 0,
  });
  t.equal(checks, 1);
  const plain = await failure(
    readTables(ec2, {
      check: () => {
        throw new Error("not a CallCancelled");
      },
    }),
  );
  t.match(plain.error, { outcome: "cancelled", code: "cancelled" }, "any error refuses");
  t.equal(proxy.count(), 0, "no request reached the proxy");

  // A check that passes lets the call through, and is asked before every attempt.
  proxy.inject("DescribeRouteTables", { kind: "server-error" }, { kind: "server-error" });
  const fast = client(t, { baseDelayMs: 5, maxDelayMs: 10 });
  let asked = 0;
  await readTables(fast, { check: () => void asked++ });
  t.equal(asked, 3, "asked before each of the three attempts");
  t.equal(proxy.count("DescribeRouteTables"), 3);
});

t.test("a beforeRetry that throws stops the retries", async (t) => {
  const ec2 = client(t, { maxAttempts: 10, baseDelayMs: 5, maxDelayMs: 10 });
  proxy.rule(({ action }) => (action === "DescribeRouteTables" ? { kind: "throttle" } : undefined));
  let retries = 0;
  const { error } = await failure(
    readTables(ec2, {
      beforeRetry: async () => {
        retries++;
        // Let one retry through, then a newer fence shows up on the table.
        if (retries > 1) throw new CallCancelled("fenced", "rtb-x carries a newer decision");
      },
    }),
  );
  t.match(error, { name: "Ec2Error", outcome: "cancelled", code: "fenced", attempts: 2 });
  t.equal(retries, 2);
  t.equal(proxy.count("DescribeRouteTables"), 2, "the first attempt and one retry, no more");
  t.same(ec2.calls.snapshot(), { DescribeRouteTables: { throttled: 2, cancelled: 1 } });
});

t.test("lanes share the slots in turn: a hanging lane does not hold another's call", async (t) => {
  const HANG_MS = 1500;
  const QUEUED = 5;
  const ec2 = client(t, { concurrency: 1, callTimeoutMs: 5000, maxAttempts: 1 });
  // Every read of route tables hangs (lane "slow"); reads of instances (lane "fast") do not.
  proxy.rule(({ action }) =>
    action === "DescribeRouteTables" ? { kind: "latency", ms: HANG_MS } : undefined,
  );
  const started = performance.now();
  const slow = Array.from({ length: QUEUED }, () =>
    readTables(ec2, { lane: "slow" }).then(() => performance.now() - started),
  );
  // The first slow call holds the one slot; the other four wait in their lane.
  await new Promise((r) => setTimeout(r, 100));
  t.equal(proxy.count("DescribeRouteTables"), 1, "one attempt in flight at concurrency 1");
  const fastDone = await readInstances(ec2, { lane: "fast" }).then(
    () => performance.now() - started,
  );
  const slowDone = await Promise.all(slow);
  const hangs = Math.ceil(fastDone / HANG_MS);
  t.comment(
    `fast lane done after ${Math.round(fastDone)} ms; slow lane: ${slowDone.map(Math.round).join(", ")} ms`,
  );
  t.ok(
    fastDone < 2 * HANG_MS,
    `the fast call waited for at most one hanging attempt (${hangs} hang(s) of ${HANG_MS} ms), not for the ${QUEUED} queued`,
  );
  t.ok(
    slowDone.filter((ms) => ms > fastDone).length >= QUEUED - 2,
    "most of the slow lane's queue ran after the fast call",
  );
  t.equal(proxy.peakInFlight, 1, "never more than one attempt in flight");

  // Without lanes (every call in the default lane) the same call waits for the whole queue.
  proxy.reset();
  proxy.rule(({ action }) =>
    action === "DescribeRouteTables" ? { kind: "latency", ms: 300 } : undefined,
  );
  const fifo = client(t, { concurrency: 1, callTimeoutMs: 5000, maxAttempts: 1 });
  const begun = performance.now();
  const queued = Array.from({ length: QUEUED }, () => readTables(fifo));
  await new Promise((r) => setTimeout(r, 50));
  await readInstances(fifo);
  const behind = performance.now() - begun;
  await Promise.all(queued);
  t.ok(behind >= QUEUED * 300 - 100, `one lane: behind the whole queue (${Math.round(behind)} ms)`);
});
