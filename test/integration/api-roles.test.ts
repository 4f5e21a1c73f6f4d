import { request } from "node:https";
import t from "tap";
import { ApiClient } from "../../common/agent-api/client.ts";
import { SwpError } from "../../common/errors.ts";
import { rejectsCode, STATUS, startTlsApi, tempDir } from "../helpers/api-fakes.ts";
import { makeTestPki, readTls, type TestPki } from "../helpers/certs.ts";

/**
 * Reading and acting on the HTTPS API (decision 0014): any certificate from the CA may GET,
 * only one with OU=swanpair-operator may POST. Certificates made by openssl for this run.
 */

const pki = await makeTestPki(await tempDir(t));

async function client(url: string, who: keyof TestPki) {
  return new ApiClient({ url, tls: await readTls(pki[who]) }, { timeoutMs: 5000 });
}

/** A POST as it crosses the wire, to see the status line and the body as they are. */
async function rawPost(url: string, who: keyof TestPki) {
  const tls = await readTls(pki[who]);
  const options = { method: "POST", ca: tls.ca, cert: tls.cert, key: tls.key.reveal() };
  return new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
    const req = request(url, { ...options, agent: false }, (res) => {
      let body = "";
      res.on("data", (chunk) => {
        body += chunk;
      });
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, type: res.headers["content-type"] ?? "", body }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

const RULE =
  /^forbidden: POST \/v1\/\S+ acts on the agent, which takes an operator certificate \(OU=swanpair-operator in its subject\); this client's certificate may only read \(GET\)$/;

t.test("a read-only certificate reads status, tunnels and metrics", async (t) => {
  const agent = await startTlsApi(t, pki.server);
  const api = await client(agent.url, "client");
  t.same(await api.status(), STATUS);
  t.same(await api.tunnels(), STATUS.tunnels);
  t.equal(await api.metrics(), "swanpair_charon_up 1\n");
  t.match(
    agent.lines.filter((l) => l.msg === "api request"),
    [{ url: "/v1/status", client: "controller", role: "reader", status: 200 }, {}, {}],
  );
});

t.test("a read-only certificate may not act: 403 with a JSON error naming the rule", async (t) => {
  const agent = await startTlsApi(t, pki.server);
  const raw = await rawPost(`${agent.url}/v1/reload`, "client");
  t.equal(raw.status, 403);
  t.match(raw.type, /^application\/json/);
  const { error } = JSON.parse(raw.body);
  t.equal(error.code, "SWP_ERR_API_REQUEST");
  t.match(error.message, RULE);

  const api = await client(agent.url, "client");
  for (const act of [
    () => api.reload(),
    () => api.initiate("to-dc1"),
    () => api.terminate("to-dc1"),
  ]) {
    const err = await act().catch((e: unknown) => e);
    t.ok(err instanceof SwpError, "refused");
    if (err instanceof SwpError) {
      t.equal(err.code, "SWP_ERR_API_REQUEST");
      t.match(err.details, { status: 403, message: RULE });
    }
  }
  t.same(agent.control.calls, [], "nothing reached the daemon");
  t.match(
    agent.lines.filter((l) => l.msg === "api request"),
    [{ method: "POST", url: "/v1/reload", client: "controller", role: "reader", status: 403 }],
  );
});

t.test("an operator certificate acts", async (t) => {
  const agent = await startTlsApi(t, pki.server);
  const api = await client(agent.url, "operatorClient");
  t.match(await api.reload(), { ok: true, generation: 3 });
  await api.initiate("to-dc1");
  await api.terminate("to-dc1");
  await rejectsCode(t, api.terminate("nope"), "SWP_ERR_API_REQUEST", /no tunnel named nope/);
  t.same(await api.status(), STATUS, "and reads");
  t.same(agent.control.calls, ["reload", "initiate to-dc1", "terminate to-dc1"]);
  t.match(
    agent.lines.find((l) => l.msg === "api request"),
    {
      method: "POST",
      url: "/v1/reload",
      client: "alice",
      role: "operator",
      status: 200,
    },
  );
});

t.test(
  "a certificate from another CA is refused in the handshake, operator OU or not",
  async (t) => {
    const agent = await startTlsApi(t, pki.server);
    for (const who of ["foreignClient", "foreignOperator"] as const) {
      const api = await client(agent.url, who);
      await rejectsCode(
        t,
        api.status(),
        "SWP_ERR_API_UNREACHABLE",
        /TLS: .*refusing this client's certificate/,
      );
      await rejectsCode(
        t,
        api.reload(),
        "SWP_ERR_API_UNREACHABLE",
        /TLS: .*refusing this client's certificate/,
      );
    }
    t.same(agent.control.calls, []);
    t.notOk(
      agent.lines.some((l) => l.msg === "api request"),
      "no request reached the routes",
    );
  },
);

t.test("the Unix socket keeps full rights", async (t) => {
  const agent = await startTlsApi(t, pki.server);
  const api = new ApiClient({ socketPath: agent.socketPath }, { timeoutMs: 5000 });
  await api.reload();
  await api.initiate("to-dc1");
  await api.terminate("to-dc1");
  t.same(agent.control.calls, ["reload", "initiate to-dc1", "terminate to-dc1"]);
});
