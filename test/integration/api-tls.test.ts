import { access, copyFile, rm } from "node:fs/promises";
import { request } from "node:https";
import { createServer } from "node:net";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import t, { type Test } from "tap";
import { stringify } from "yaml";
import { startApiServer } from "../../agent/src/api/server.ts";
import { ApiClient } from "../../common/agent-api/client.ts";
import { Secret } from "../../common/secret.ts";
import { agentClient } from "../../control-plane/src/agents.ts";
import { loadFleetText } from "../../control-plane/src/fleet/load.ts";
import { fleetTree } from "../fixtures/invalid-fleets.ts";
import {
  captureLogger,
  control,
  rejectsCode,
  STATUS,
  startTlsApi,
  tempDir,
} from "../helpers/api-fakes.ts";
import { makeTestPki, readTls, type TestPki, type TlsPaths } from "../helpers/certs.ts";

/**
 * The agent API over HTTPS with mutual TLS, next to its Unix socket: a real server on
 * 127.0.0.1 and certificates made by openssl for this run.
 */

const dir = await tempDir(t);
const pki = await makeTestPki(dir);

const startAgent = (t: Test, server: TlsPaths = pki.server) => startTlsApi(t, server);

async function client(url: string, side: keyof TestPki = "client") {
  return new ApiClient({ url, tls: await readTls(pki[side]) }, { timeoutMs: 5000 });
}

/** A bare HTTPS request, for what ApiClient cannot do (no client certificate) or hides (the protocol). */
function rawGet(url: string, options: { ca: string; cert?: string; key?: string }) {
  return new Promise<{ status: number; protocol: string | null }>((resolve, reject) => {
    const req = request(`${url}/v1/status`, { ...options, agent: false }, (res) => {
      res.resume();
      const protocol = (res.socket as TLSSocket).getProtocol();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, protocol }));
    });
    req.on("error", reject);
    req.end();
  });
}

t.test("a client with a certificate from the CA reads every answer", async (t) => {
  const agent = await startAgent(t);
  t.equal(agent.server.network?.address, "127.0.0.1");
  t.not(agent.server.network?.port, 0, "the bound port, not the requested 0");
  const api = await client(agent.url);
  t.same(await api.status(), STATUS);
  t.same(await api.tunnels(), STATUS.tunnels);
  t.equal(await api.metrics(), "swanpair_charon_up 1\n");

  t.match(
    agent.lines.find((l) => l.msg === "api request"),
    { level: 20, method: "GET", url: "/v1/status", client: "controller", status: 200 },
    "each request is logged with the client certificate's CN",
  );
  t.match(agent.lines, [{ msg: "api listening" }, { msg: "api listening with mutual TLS" }]);

  const material = await readTls(pki.client);
  const raw = await rawGet(agent.url, { ...material, key: material.key.reveal() });
  t.same(raw, { status: 200, protocol: "TLSv1.3" }, "TLS 1.3 when both ends have it");
});

t.test("a client without a certificate is refused in the handshake", async (t) => {
  const agent = await startAgent(t);
  const { ca } = await readTls(pki.client);
  await t.rejects(rawGet(agent.url, { ca }), { code: "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED" });
  t.notOk(
    agent.lines.some((l) => l.msg === "api request"),
    "no request reached the routes",
  );
  t.match(agent.lines, [{}, {}, { msg: "api refused a TLS client", remote: "127.0.0.1" }]);
});

t.test("a client certificate from another CA is refused", async (t) => {
  const agent = await startAgent(t);
  await rejectsCode(
    t,
    (await client(agent.url, "foreignClient")).status(),
    "SWP_ERR_API_UNREACHABLE",
    new RegExp(
      `^agent API at ${agent.url}: TLS: .*refusing this client's certificate; .*api\\.listen\\.tls\\.ca`,
    ),
  );
  t.notOk(agent.lines.some((l) => l.msg === "api request"));
  t.match(
    agent.lines.find((l) => l.msg === "api refused a TLS client"),
    { reason: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" },
    "the agent logs why",
  );
});

t.test("a server certificate the client does not trust is refused", async (t) => {
  const agent = await startAgent(t);
  await rejectsCode(
    t,
    (await client(agent.url, "distrustfulClient")).status(),
    "SWP_ERR_API_UNREACHABLE",
    new RegExp(
      `^agent API at ${agent.url}: TLS: the agent's certificate is not signed by a CA in this client's tls\\.ca \\(SELF_SIGNED_CERT_IN_CHAIN`,
    ),
  );
});

t.test("client TLS files that do not parse fail at construction, naming the URL", async (t) => {
  const material = await readTls(pki.client);
  t.throws(
    () =>
      new ApiClient({
        url: "https://127.0.0.1:7443",
        tls: { ...material, key: new Secret("not a key") },
      }),
    {
      code: "SWP_ERR_API_UNREACHABLE",
      message: /^agent API at https:\/\/127\.0\.0\.1:7443: the client's TLS files are unusable/,
    },
  );
});

t.test("an expired server certificate is refused, and said so", async (t) => {
  const agent = await startAgent(t, pki.expiredServer);
  await rejectsCode(
    t,
    (await client(agent.url)).status(),
    "SWP_ERR_API_UNREACHABLE",
    /^agent API at https:\/\/127\.0\.0\.1:\d+: TLS: the agent's certificate has expired \(CERT_HAS_EXPIRED/,
  );
});

t.test("the Unix socket still serves, without a client field in the log", async (t) => {
  const agent = await startAgent(t);
  t.same(await new ApiClient({ socketPath: agent.socketPath }).status(), STATUS);
  const logged = agent.lines.find((l) => l.msg === "api request");
  t.match(logged, { url: "/v1/status", status: 200 });
  t.notOk(logged && "client" in logged);
});

t.test("close stops both listeners", async (t) => {
  const agent = await startAgent(t);
  const api = await client(agent.url);
  await api.status();
  await agent.server.close();
  await t.rejects(access(agent.socketPath), { code: "ENOENT" });
  await rejectsCode(
    t,
    api.status(),
    "SWP_ERR_API_UNREACHABLE",
    /^agent API at https:\/\/127\.0\.0\.1:\d+: nothing listens there/,
  );
});

t.test("a listener that cannot bind fails the start and leaves no socket behind", async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise((resolve) => taken.close(resolve)));
  const address = taken.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  const socketPath = join(await tempDir(t), "agent.sock");
  const listen = { address: "127.0.0.1", port: address.port, tls: await readTls(pki.server) };
  await t.rejects(
    startApiServer({ socketPath, listen, control: control(), logger: captureLogger().logger }),
    {
      code: "SWP_ERR_FAILED",
      message: `cannot serve the API on api.listen 127.0.0.1:${address.port}: the address is already in use (EADDRINUSE); is another agent or program listening there?`,
      details: { code: "EADDRINUSE" },
    },
  );
  await t.rejects(access(socketPath), { code: "ENOENT" });
});

t.test("agentClient reaches a fleet's unix and https agents, reading TLS files once", async (t) => {
  const agent = await startAgent(t);
  const key = join(await tempDir(t), "controller.key");
  await copyFile(pki.client.key, key);
  const tree = fleetTree();
  tree.tls = { ...pki.client, key };
  tree.appliances[0].agent = `unix://${agent.socketPath}`;
  tree.appliances[1].agent = agent.url;
  const loaded = await loadFleetText(stringify(tree));
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  const { fleet } = loaded;
  const [unix, https] = fleet.appliances;
  if (!unix || !https) throw new Error("fixture changed");
  t.match(https.agent, { kind: "https", url: agent.url });

  t.same(await agentClient(fleet, unix).status(), STATUS);
  t.same(await agentClient(fleet, https).status(), STATUS);
  t.match(
    agent.lines.filter((l) => l.msg === "api request"),
    [{ url: "/v1/status" }, { url: "/v1/status", client: "controller" }],
    "one request over each transport",
  );

  await rm(key);
  t.same(await agentClient(fleet, https).status(), STATUS, "the files were read once");
  const reloaded = structuredClone(fleet);
  t.throws(() => agentClient(reloaded, https), {
    code: "SWP_ERR_API_UNREACHABLE",
    message: new RegExp(
      `^agent API at ${agent.url}: cannot read TLS file .*controller\\.key: ENOENT`,
    ),
  });
});
