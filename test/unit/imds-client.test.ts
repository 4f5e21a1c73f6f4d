import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import t from "tap";
import { ImdsClient, TOKEN_HEADER, TOKEN_TTL_HEADER } from "../../common/imds/client.ts";
import { discoverInstance, imdsFromEnv } from "../../common/imds/discover.ts";
import { deadEndpoint, INSTANCE, startImdsServer } from "../helpers/imds-server.ts";

/** The IMDSv2 client against a server that enforces the protocol (test/helpers/imds-server.ts). */

/** A clock the client and the server share, moved by hand. */
function clock() {
  let ms = 1_000_000;
  return { now: () => ms, advance: (by: number) => (ms += by) };
}

t.test("the server enforces IMDSv2: no token, bad TTL, a forged token", async (t) => {
  const imds = await startImdsServer(t);
  const get = (headers: Record<string, string> = {}) =>
    fetch(`${imds.endpoint}/latest/meta-data/instance-id`, { headers }).then((r) => r.status);
  const put = (headers: Record<string, string>) =>
    fetch(`${imds.endpoint}/latest/api/token`, { method: "PUT", headers }).then((r) => r.status);
  t.equal(await get(), 401, "GET without a token: 401");
  t.equal(await get({ [TOKEN_HEADER]: "forged" }), 401, "a token it never issued: 401");
  t.equal(await put({}), 400, "PUT without the TTL header: 400");
  t.equal(await put({ [TOKEN_TTL_HEADER]: "0" }), 400, "TTL 0: 400");
  t.equal(await put({ [TOKEN_TTL_HEADER]: "21601" }), 400, "TTL over 6 h: 400");
  t.equal(imds.tokensIssued(), 0);
});

t.test("discovers every field, with one token PUT before any GET", async (t) => {
  const imds = await startImdsServer(t);
  const found = await discoverInstance(new ImdsClient({ endpoint: imds.endpoint }));
  t.same(found, {
    instanceId: INSTANCE.instanceId,
    privateIp: INSTANCE.privateIp,
    publicIp: INSTANCE.publicIp,
    eni: INSTANCE.eni,
    availabilityZone: INSTANCE.availabilityZone,
    region: INSTANCE.region,
  });
  t.same(imds.requests[0], { method: "PUT", path: "/latest/api/token", status: 200 });
  t.equal(imds.tokensIssued(), 1, "the seven GETs share one token");
  t.same(
    imds.requests.filter((r) => r.status !== 200),
    [],
    "no request was refused: every GET carried the token",
  );
  t.ok(
    imds.requests.some(
      (r) => r.path === `/latest/meta-data/network/interfaces/macs/${INSTANCE.mac}/interface-id`,
    ),
    "the ENI comes from the primary MAC's interface-id",
  );
});

t.test("an instance without an Elastic IP: publicIp is absent, not an error", async (t) => {
  const imds = await startImdsServer(t, { instance: { publicIp: undefined } });
  const found = await discoverInstance(new ImdsClient({ endpoint: imds.endpoint }));
  t.notOk("publicIp" in found);
  t.equal(found.privateIp, INSTANCE.privateIp);
  t.ok(imds.requests.some((r) => r.path === "/latest/meta-data/public-ipv4" && r.status === 404));
});

t.test("a token is reused until shortly before its TTL ends, then renewed", async (t) => {
  const c = clock();
  const imds = await startImdsServer(t, { now: c.now });
  const client = new ImdsClient({ endpoint: imds.endpoint, tokenTtlS: 120, now: c.now });
  await client.get("instance-id");
  c.advance(80_000);
  await client.get("instance-id");
  t.equal(imds.tokensIssued(), 1, "80 s into a 120 s token: reused");
  c.advance(15_000);
  await client.get("instance-id");
  t.equal(imds.tokensIssued(), 2, "95 s in, inside the last quarter: renewed before it expires");
  t.same(
    imds.requests.filter((r) => r.status === 401),
    [],
    "no GET ever met an expired token",
  );
});

t.test("a 401 (token expired or revoked early) is retried once with a fresh token", async (t) => {
  const imds = await startImdsServer(t);
  const client = new ImdsClient({ endpoint: imds.endpoint });
  t.equal(await client.get("local-ipv4"), INSTANCE.privateIp);
  imds.revokeTokens();
  t.equal(await client.get("local-ipv4"), INSTANCE.privateIp);
  t.same(
    imds.requests.map((r) => `${r.method} ${r.status}`),
    ["PUT 200", "GET 200", "GET 401", "PUT 200", "GET 200"],
  );
});

t.test("a token refused again after renewal is an error, not a loop", async (t) => {
  const imds = await startImdsServer(t);
  imds.rejectTokens = true;
  const client = new ImdsClient({ endpoint: imds.endpoint });
  await t.rejects(client.get("instance-id"), {
    code: "SWP_ERR_IMDS_UNAVAILABLE",
    message: /answered GET instance-id with HTTP 401/,
  });
  t.equal(imds.tokensIssued(), 2, "one renewal, then it gives up");
});

t.test("a slow IMDS times out with a clear error", async (t) => {
  const imds = await startImdsServer(t);
  imds.delayMs = 500;
  const client = new ImdsClient({ endpoint: imds.endpoint, timeoutMs: 100 });
  const started = Date.now();
  await t.rejects(client.get("instance-id"), {
    code: "SWP_ERR_IMDS_UNAVAILABLE",
    message: new RegExp(
      `IMDS at ${imds.endpoint} \\(PUT /latest/api/token\\): no answer within 100 ms`,
    ),
  });
  t.ok(Date.now() - started < 450, "gave up at the timeout, not when the server answered");
  imds.delayMs = 0;
  t.equal(await client.get("instance-id"), INSTANCE.instanceId, "a failed token is not cached");
});

t.test("nothing listening: a clear error naming the endpoint", async (t) => {
  const endpoint = await deadEndpoint();
  await t.rejects(discoverInstance(new ImdsClient({ endpoint })), {
    code: "SWP_ERR_IMDS_UNAVAILABLE",
    message: `IMDS at ${endpoint} (PUT /latest/api/token): ECONNREFUSED: not on EC2?`,
  });
});

t.test(
  "something that is not IMDS: the token refused, or answers of the wrong shape",
  async (t) => {
    const imds = await startImdsServer(t, { instance: { privateIp: "<html>" } });
    await t.rejects(discoverInstance(new ImdsClient({ endpoint: imds.endpoint })), {
      code: "SWP_ERR_IMDS_UNAVAILABLE",
      message: /meta-data\/local-ipv4 with "<html>", which is not what EC2 sends/,
    });
    const web = createServer((_req, res) => res.writeHead(404).end("not found"));
    await new Promise<void>((resolve) => web.listen(0, "127.0.0.1", resolve));
    t.teardown(() => new Promise<void>((resolve) => web.close(() => resolve())));
    const endpoint = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
    await t.rejects(new ImdsClient({ endpoint }).get("instance-id"), {
      code: "SWP_ERR_IMDS_UNAVAILABLE",
      message: `IMDS at ${endpoint} refused a session token (HTTP 404): not on EC2, or IMDS disabled on this instance`,
    });
  },
);

t.test("the endpoint and timeout come from the environment, checked", async (t) => {
  t.equal(imdsFromEnv({}).endpoint, "http://169.254.169.254", "EC2's address by default");
  t.equal(
    imdsFromEnv({ SWANPAIR_IMDS_ENDPOINT: "http://127.0.0.1:8111/" }).endpoint,
    "http://127.0.0.1:8111",
  );
  t.throws(() => imdsFromEnv({ SWANPAIR_IMDS_ENDPOINT: "https://169.254.169.254" }), {
    code: "SWP_ERR_IMDS_UNAVAILABLE",
  });
  t.throws(() => imdsFromEnv({ SWANPAIR_IMDS_TIMEOUT_MS: "soon" }), {
    code: "SWP_ERR_IMDS_UNAVAILABLE",
    message: /SWANPAIR_IMDS_TIMEOUT_MS=soon/,
  });
});
