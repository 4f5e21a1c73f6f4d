import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
  InternalServerError,
  ResourceNotFoundException,
} from "@aws-sdk/client-dynamodb";
import t from "tap";
import { leaseClient } from "../../control-plane/src/leases/client.ts";
import { GC_AFTER_S, LeaseStore, LeaseStoreError } from "../../control-plane/src/leases/store.ts";

/**
 * The store's requests as DynamoDB receives them, and how it turns answers and failures into
 * results, over a fake client. Against moto: test/integration/leases.test.ts.
 */

// biome-ignore lint/suspicious/noExplicitAny: commands are inspected as plain inputs.
type Input = any;

function fakeClient(answer: (input: Input, name: string) => unknown) {
  const sent: Array<{ name: string; input: Input }> = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: Input }) => {
      const name = command.constructor.name.replace(/Command$/, "");
      sent.push({ name, input: command.input });
      return answer(command.input, name);
    },
  } as unknown as DynamoDBClient;
  return { client, sent };
}

const opts = () => ({ signal: AbortSignal.timeout(5000) });
const item = (holder: string, epoch: number, expiresAt: number) => ({
  side: { S: "ab/pa" },
  holder: { S: holder },
  epoch: { N: String(epoch) },
  expiresAt: { N: String(expiresAt) },
  expires: { N: String(Math.floor(expiresAt / 1000) + GC_AFTER_S) },
});

t.test("read: consistent, parsed; none is undefined", async (t) => {
  const { client, sent } = fakeClient(() => ({ Item: item("h", 3, 5000) }));
  const store = new LeaseStore(client, "leases");
  t.same(await store.read("ab/pa", opts()), {
    side: "ab/pa",
    holder: "h",
    epoch: 3,
    expiresAt: 5000,
  });
  t.match(sent[0], {
    name: "GetItem",
    input: { TableName: "leases", Key: { side: { S: "ab/pa" } }, ConsistentRead: true },
  });
  const none = new LeaseStore(fakeClient(() => ({})).client, "leases");
  t.equal(await none.read("ab/pa", opts()), undefined);
  const bad = new LeaseStore(fakeClient(() => ({ Item: { side: { S: "x" } } })).client, "leases");
  await t.rejects(bad.read("ab/pa", opts()), {
    name: "LeaseStoreError",
    errorName: "MalformedItem",
  });
});

t.test("claim: one conditional UpdateItem with the epoch incremented by DynamoDB", async (t) => {
  const now = 1_800_000_000_000;
  const { client, sent } = fakeClient(() => ({ Attributes: item("me", 1, now + 15_000) }));
  const store = new LeaseStore(client, "leases");
  const r = await store.claim("ab/pa", "me", 15_000, now, { ...opts(), skewMs: 1000 });
  t.same(r, {
    ok: true,
    lease: { side: "ab/pa", holder: "me", epoch: 1, expiresAt: now + 15_000 },
  });
  t.equal(sent.length, 1);
  const input = sent[0]?.input;
  t.equal(sent[0]?.name, "UpdateItem");
  t.equal(input.ReturnValues, "ALL_NEW");
  t.equal(input.ReturnValuesOnConditionCheckFailure, "ALL_OLD");
  t.equal(input.ConditionExpression, "attribute_not_exists(#side) OR #expiresAt < :cutoff");
  t.match(input.UpdateExpression, "#epoch = if_not_exists(#epoch, :floor) + :one");
  t.same(input.ExpressionAttributeValues[":floor"], { N: "0" }, "a missing item counts as epoch 0");
  t.same(input.ExpressionAttributeValues[":cutoff"], { N: String(now - 1000) });
  t.same(input.ExpressionAttributeValues[":exp"], { N: String(now + 15_000) });
  t.same(input.ExpressionAttributeValues[":gc"], {
    N: String(Math.floor((now + 15_000) / 1000) + 7 * 24 * 3600),
  });
  t.same(store.calls.snapshot(), { claim: { ok: 1 } });
});

t.test(
  "claim refused: the current holder as DynamoDB returned it, never an exception",
  async (t) => {
    const { client } = fakeClient(() => {
      throw new ConditionalCheckFailedException({
        message: "The conditional request failed",
        $metadata: { httpStatusCode: 400 },
        Item: item("other", 4, 9000),
      });
    });
    const store = new LeaseStore(client, "leases");
    t.same(await store.claim("ab/pa", "me", 15_000, 1000, opts()), {
      ok: false,
      current: { side: "ab/pa", holder: "other", epoch: 4, expiresAt: 9000 },
    });
    t.same(store.calls.snapshot(), { claim: { "conditional-failed": 1 } });
  },
);

t.test("claim of a lease already ours: renewed under its epoch", async (t) => {
  let n = 0;
  const { client, sent } = fakeClient(() => {
    if (n++ === 0)
      throw new ConditionalCheckFailedException({
        message: "failed",
        $metadata: { httpStatusCode: 400 },
        Item: item("me", 6, 9000),
      });
    return { Attributes: item("me", 6, 16_000) };
  });
  const store = new LeaseStore(client, "leases");
  const r = await store.claim("ab/pa", "me", 15_000, 1000, opts());
  t.same(r, { ok: true, lease: { side: "ab/pa", holder: "me", epoch: 6, expiresAt: 16_000 } });
  t.equal(sent[1]?.input.ConditionExpression, "#holder = :me AND #epoch = :epoch");
  t.same(sent[1]?.input.ExpressionAttributeValues[":epoch"], { N: "6" });
  t.same(store.calls.snapshot(), { claim: { "conditional-failed": 1 }, reclaim: { ok: 1 } });
});

t.test("renew and release: conditional on holder and epoch; release keeps the epoch", async (t) => {
  const { client, sent } = fakeClient((input) =>
    input.UpdateExpression === "SET #expiresAt = :zero"
      ? { Attributes: item("me", 2, 0) }
      : { Attributes: item("me", 2, 20_000) },
  );
  const store = new LeaseStore(client, "leases");
  t.match(await store.renew("ab/pa", "me", 2, 15_000, 5000, opts()), {
    ok: true,
    lease: { epoch: 2, expiresAt: 20_000 },
  });
  t.same(await store.release("ab/pa", "me", 2, opts()), { ok: true });
  for (const s of sent) {
    t.equal(s.input.ConditionExpression, "#holder = :me AND #epoch = :epoch");
    t.same(s.input.ExpressionAttributeValues[":epoch"], { N: "2" });
    t.notMatch(s.input.UpdateExpression, "#epoch", "the epoch is never changed");
  }
  t.same(sent[1]?.input.ExpressionAttributeValues[":zero"], { N: "0" });
  // Every name in an expression has its placeholder, and no placeholder is unused.
  for (const s of sent) {
    const text = `${s.input.UpdateExpression} ${s.input.ConditionExpression}`;
    t.same(
      Object.keys(s.input.ExpressionAttributeNames).sort(),
      [...new Set(text.match(/#\w+/g))].sort(),
    );
  }

  const lost = new LeaseStore(
    fakeClient(() => {
      throw new ConditionalCheckFailedException({
        message: "failed",
        $metadata: { httpStatusCode: 400 },
      });
    }).client,
    "leases",
  );
  t.same(await lost.renew("ab/pa", "me", 2, 15_000, 5000, opts()), { ok: false });
  t.same(await lost.release("ab/pa", "me", 2, opts()), { ok: false });
});

t.test("other failures: LeaseStoreError with the SDK's error name and an outcome", async (t) => {
  const cases: Array<[string, () => unknown, string, string]> = [
    [
      "missing table",
      () => {
        throw new ResourceNotFoundException({
          message: "Requested resource not found",
          $metadata: { httpStatusCode: 400 },
        });
      },
      "ResourceNotFoundException",
      "client-error",
    ],
    [
      "server error",
      () => {
        throw new InternalServerError({ message: "boom", $metadata: { httpStatusCode: 500 } });
      },
      "InternalServerError",
      "server-error",
    ],
    [
      "throttled",
      () => {
        throw Object.assign(new Error("slow down"), {
          name: "ProvisionedThroughputExceededException",
          $metadata: { httpStatusCode: 400 },
        });
      },
      "ProvisionedThroughputExceededException",
      "throttled",
    ],
    [
      "connection refused",
      () => {
        throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
      },
      "ECONNREFUSED",
      "network",
    ],
  ];
  for (const [what, fail, errorName, outcome] of cases) {
    const store = new LeaseStore(fakeClient(fail).client, "leases");
    for (const call of [
      () => store.read("s", opts()),
      () => store.claim("s", "me", 15_000, 0, opts()),
      () => store.renew("s", "me", 1, 15_000, 0, opts()),
      () => store.release("s", "me", 1, opts()),
    ]) {
      const e = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      t.ok(e instanceof LeaseStoreError, what);
      t.match(e, { errorName, outcome }, what);
    }
    t.equal(store.calls.count(undefined, outcome as "network"), 4);
  }
  // Past its deadline, whatever the SDK threw, the outcome is a timeout.
  const slow = new LeaseStore(
    fakeClient(async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      throw Object.assign(new Error("aborted"), { name: "AbortError" });
    }).client,
    "leases",
  );
  const timedOut = await slow.read("s", { signal: AbortSignal.timeout(10) }).catch((e) => e);
  t.ok(timedOut instanceof LeaseStoreError);
  t.match(timedOut, { errorName: "AbortError", outcome: "timeout" });
});

t.test(
  "leaseClient: the endpoint of the file, else the environment's; no SDK retries",
  async (t) => {
    const fromFile = leaseClient({ endpoint: "http://127.0.0.1:5000" }, "eu-west-1", {});
    t.equal(await fromFile.config.region(), "eu-west-1");
    t.equal(await fromFile.config.maxAttempts(), 1);
    t.match(await fromFile.config.endpoint?.(), { hostname: "127.0.0.1", port: 5000 });
    const fromEnv = leaseClient({}, "eu-west-1", {
      AWS_ENDPOINT_URL_DYNAMODB: "http://127.0.0.1:6000",
    });
    t.match(await fromEnv.config.endpoint?.(), { port: 6000 });
    // The SDK reads AWS_MAX_ATTEMPTS from the process environment itself; it must not count.
    const saved = process.env.AWS_MAX_ATTEMPTS;
    process.env.AWS_MAX_ATTEMPTS = "5";
    t.teardown(() => {
      if (saved === undefined) delete process.env.AWS_MAX_ATTEMPTS;
      else process.env.AWS_MAX_ATTEMPTS = saved;
    });
    t.equal(await leaseClient({}, "eu-west-1", {}).config.maxAttempts(), 1);
    t.throws(() => leaseClient({}, "eu-west-1", { AWS_ENDPOINT_URL_DYNAMODB: "not a url" }));
    for (const c of [fromFile, fromEnv]) c.destroy();
  },
);
