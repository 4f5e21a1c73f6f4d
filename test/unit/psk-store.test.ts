import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import t from "tap";
import { SwpError } from "../../common/errors.ts";
import { ensureKeys, rotateKey } from "../../control-plane/src/keys/store.ts";
import { tunnelKeys } from "../../control-plane/src/keys/tunnel-keys.ts";
import { useFakeCredentials } from "../helpers/aws-env.ts";

/**
 * The control plane's key writes through the real SDK, against a small HTTP server answering
 * as SSM does: every key is a SecureString in 0s notation, ensure never overwrites and calls an
 * existing key kept, rotate overwrites, and a failure names the parameter but never the key,
 * even when SSM's own message quotes the request.
 */

useFakeCredentials(t);

interface Put {
  Name: string;
  Value: string;
  Type: string;
  Overwrite?: boolean;
  Description?: string;
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
  res.end(JSON.stringify(body));
}

/** SSM with the names in `existing` already there; `answer` may replace the reply. */
async function fakeSsm(existing: Set<string>, answer?: (put: Put, res: ServerResponse) => boolean) {
  const puts: Put[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const put: Put = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    puts.push(put);
    if (req.headers["x-amz-target"] !== "AmazonSSM.PutParameter") return json(res, 400, {});
    if (answer?.(put, res)) return;
    if (existing.has(put.Name) && !put.Overwrite) {
      return json(res, 400, {
        __type: "ParameterAlreadyExists",
        message: "The parameter already exists.",
      });
    }
    const version = existing.has(put.Name) ? 2 : 1;
    existing.add(put.Name);
    json(res, 200, { Version: version, Tier: "Standard" });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as AddressInfo;
  return {
    fleet: { region: "eu-west-1", keys: { ssm: { endpoint: `http://127.0.0.1:${port}` } } },
    puts,
  };
}

const pair = (name: string, members: [string, string]) => ({
  name,
  vpc: name,
  members,
  preferred: members[0],
});
const KEYS = tunnelKeys(
  {
    pairs: [pair("p", ["a1", "a2"]), pair("q", ["b1", "b2"])],
    connections: [{ name: "pq", kind: "site-to-site", between: ["p", "q"] }],
  },
  "/swanpair/test",
);

t.test("ensure creates the missing keys as SecureStrings and keeps the others", async (t) => {
  const ssm = await fakeSsm(new Set(["/swanpair/test/psk/a1/b2"]));
  const results = await ensureKeys(ssm.fleet, KEYS);
  t.same(
    results.map((r) => [r.parameter, r.result]),
    [
      ["/swanpair/test/psk/a1/b1", "created"],
      ["/swanpair/test/psk/a1/b2", "kept"],
      ["/swanpair/test/psk/a2/b1", "created"],
      ["/swanpair/test/psk/a2/b2", "created"],
    ],
  );
  t.ok(
    ssm.puts.every((p) => p.Overwrite === false),
    "never overwrites",
  );
  t.ok(
    ssm.puts.every((p) => p.Type === "SecureString"),
    "encrypted at rest",
  );
  t.ok(
    ssm.puts.every((p) => /^0s[A-Za-z0-9+/]{43}=$/.test(p.Value)),
    "32 bytes in 0s notation",
  );
  t.equal(new Set(ssm.puts.map((p) => p.Value)).size, 4, "a key of its own for each");
  t.match(ssm.puts[0]?.Description, "a1 ⇄ b1");
  t.notOk(JSON.stringify(results).includes("0s"), "the results carry no key");
});

t.test("rotate overwrites, and returns SSM's new version", async (t) => {
  const ssm = await fakeSsm(new Set(KEYS.map((k) => k.parameter)));
  t.equal(await rotateKey(ssm.fleet, KEYS[0] as (typeof KEYS)[number]), 2);
  t.match(ssm.puts, [{ Name: "/swanpair/test/psk/a1/b1", Overwrite: true, Type: "SecureString" }]);
});

t.test("a failure names the parameter and the reason, never the key", async (t) => {
  // SSM's validation messages quote what was sent: here the value itself.
  const quoting = await fakeSsm(new Set(), (put, res) => {
    json(res, 400, {
      __type: "ValidationException",
      message: `1 validation error detected: Value '${put.Value}' at 'value' failed`,
    });
    return true;
  });
  const error = await rotateKey(quoting.fleet, KEYS[0] as (typeof KEYS)[number]).catch((e) => e);
  t.type(error, SwpError);
  t.equal(error.message, "SSM PutParameter /swanpair/test/psk/a1/b1 failed: ValidationException");
  t.notOk(
    JSON.stringify({ ...error, message: error.message }).includes(quoting.puts[0]?.Value ?? "?"),
  );

  const denied = await fakeSsm(new Set(), (_put, res) => {
    json(res, 400, {
      __type: "AccessDeniedException",
      message: "User: arn:aws:iam::1:user/bob is not authorized to perform: ssm:PutParameter",
    });
    return true;
  });
  const refused = await ensureKeys(denied.fleet, KEYS).catch((e) => e);
  t.match(
    refused.message,
    /^SSM PutParameter \/swanpair\/test\/psk\/a1\/b1 failed: access denied; the role needs ssm:PutParameter on it \(AWS said: User: arn:aws:iam::1:user\/bob/,
  );
  t.equal(denied.puts.length, 1, "ensure stops at the first failure");
});
