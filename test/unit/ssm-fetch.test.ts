import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import t from "tap";
import type { ParameterFacts } from "../../agent/src/keys/parameters.ts";
import { fetchSsmParameters, GET_PARAMETERS_MAX } from "../../agent/src/keys/ssm.ts";
import { useFakeCredentials } from "../helpers/aws-env.ts";

/**
 * The agent's SSM adapter through the real SDK, against a small HTTP server that answers as SSM
 * does (JSON 1.1, X-Amz-Target): names go in batches of at most 10, decryption is always asked
 * for, and every kind of failure becomes a fact per name rather than a throw.
 */

useFakeCredentials(t);

interface Seen {
  target: string;
  body: { Names: string[]; WithDecryption?: boolean };
}

type Answer = (seen: Seen, res: ServerResponse) => void;

/** A fake SSM endpoint; `answer` decides each reply. */
async function fakeSsm(answer: Answer) {
  const seen: Seen[] = [];
  const server = createServer(async (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const one = {
      target: String(req.headers["x-amz-target"]),
      body: JSON.parse(Buffer.concat(chunks).toString("utf8")),
    };
    seen.push(one);
    answer(one, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}`, seen };
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
  res.end(JSON.stringify(body));
}

/** SSM's answer: every name starting with "key" exists, the others do not. */
const store: Answer = (seen, res) => {
  const names = seen.body.Names;
  json(res, 200, {
    Parameters: names
      .filter((n) => n.startsWith("/key"))
      .map((n) => ({ Name: n, Type: "SecureString", Value: `value of ${n}`, Version: 1 })),
    InvalidParameters: names.filter((n) => !n.startsWith("/key")),
  });
};

const reveal = (f: ParameterFacts | undefined) =>
  f?.found ? { type: f.type, value: f.value.reveal() } : f;

t.test("23 names: three calls of at most 10, with decryption, one fact per name", async (t) => {
  const ssm = await fakeSsm(store);
  const names = [
    ...Array.from({ length: 20 }, (_, i) => `/key${i}`),
    ...Array.from({ length: 3 }, (_, i) => `/gone${i}`),
  ];
  const facts = await fetchSsmParameters({ region: "eu-west-1", endpoint: ssm.endpoint }, names);
  t.same(
    ssm.seen.map((s) => s.body.Names.length),
    [10, 10, 3],
  );
  t.equal(GET_PARAMETERS_MAX, 10, "SSM's limit");
  t.ok(
    ssm.seen.every((s) => s.target === "AmazonSSM.GetParameters" && s.body.WithDecryption),
    "GetParameters WithDecryption every time",
  );
  t.same(reveal(facts.get("/key7")), { type: "SecureString", value: "value of /key7" });
  t.same(facts.get("/gone1"), { found: false, reason: "does not exist" });
  t.equal(facts.size, names.length);
  const found = facts.get("/key0");
  t.notOk(JSON.stringify(found).includes("value of"), "the value stays wrapped");
});

t.test("an access denial is a fact for each name of the call, with AWS's words", async (t) => {
  const ssm = await fakeSsm((_, res) =>
    json(res, 400, {
      __type: "AccessDeniedException",
      message:
        "User: arn:aws:sts::1:assumed-role/a1/i-1 is not authorized to perform: ssm:GetParameters",
    }),
  );
  const facts = await fetchSsmParameters({ region: "eu-west-1", endpoint: ssm.endpoint }, [
    "/key1",
    "/key2",
  ]);
  for (const name of ["/key1", "/key2"]) {
    const f = facts.get(name);
    t.equal(f?.found, false);
    if (f && !f.found) {
      t.match(f.reason, /^cannot be read: access denied; .*ssm:GetParameters.*kms:Decrypt/);
      t.match(f.reason, "assumed-role/a1/i-1 is not authorized", "keeps the principal AWS named");
    }
  }
});

t.test("another error answer names SSM's error code", async (t) => {
  const ssm = await fakeSsm((_, res) =>
    json(res, 400, { __type: "ValidationException", message: "bad name" }),
  );
  const facts = await fetchSsmParameters({ region: "eu-west-1", endpoint: ssm.endpoint }, ["/k"]);
  t.same(facts.get("/k"), {
    found: false,
    reason: "cannot be read: SSM answered ValidationException: bad name",
  });
});

t.test("an endpoint nothing listens on: unreachable, not a throw", async (t) => {
  // A port that was free a moment ago: connections to it are refused.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  const endpoint = `http://127.0.0.1:${port}`;
  const facts = await fetchSsmParameters({ region: "eu-west-1", endpoint }, ["/key1"]);
  t.same(facts.get("/key1"), {
    found: false,
    reason: `cannot be read: SSM at ${endpoint} cannot be reached (ECONNREFUSED)`,
  });
});

t.test("AWS_ENDPOINT_URL_SSM is used when the config names no endpoint", async (t) => {
  const ssm = await fakeSsm(store);
  const saved = process.env.AWS_ENDPOINT_URL_SSM;
  process.env.AWS_ENDPOINT_URL_SSM = ssm.endpoint;
  t.teardown(() => {
    if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_SSM;
    else process.env.AWS_ENDPOINT_URL_SSM = saved;
  });
  const facts = await fetchSsmParameters({ region: "eu-west-1" }, ["/key1"]);
  t.equal(facts.get("/key1")?.found, true);
  t.equal(ssm.seen.length, 1);
});
