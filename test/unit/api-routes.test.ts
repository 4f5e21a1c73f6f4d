import t from "tap";
import type { AgentControl } from "../../agent/src/api/control.ts";
import { dispatch } from "../../agent/src/api/routes.ts";
import type { Role } from "../../common/agent-api/roles.ts";
import type { AgentStatus, ConfigPushResult, ReloadResult } from "../../common/agent-api/status.ts";
import { SwpError } from "../../common/errors.ts";
import { agentStatus, tunnelStatus } from "../fixtures/agent-status.ts";

const STATUS: AgentStatus = agentStatus([tunnelStatus("to-dc1")]);

/** The daemon's side of the API, reduced to what dispatch may call; records what it was asked. */
class FakeControl implements AgentControl {
  calls: string[] = [];
  reloadResult: ReloadResult = { ok: true, generation: 4, loaded: [], unloaded: [], unchanged: [] };
  failWith: unknown;
  status(): AgentStatus {
    return STATUS;
  }
  async reload(): Promise<ReloadResult> {
    this.calls.push("reload");
    if (this.failWith) throw this.failWith;
    return this.reloadResult;
  }
  async putConfig(): Promise<ConfigPushResult> {
    this.calls.push("putConfig");
    return { ...this.reloadResult, configChanged: true };
  }
  configText(): string {
    return "";
  }
  async initiate(tunnel: string): Promise<void> {
    this.#tunnel("initiate", tunnel);
  }
  async terminate(tunnel: string): Promise<void> {
    this.#tunnel("terminate", tunnel);
  }
  async metrics(): Promise<string> {
    return "swanpair_charon_up 1\n";
  }
  #tunnel(action: string, tunnel: string): void {
    this.calls.push(`${action} ${tunnel}`);
    if (!STATUS.tunnels.some((x) => x.name === tunnel)) {
      throw new SwpError("SWP_ERR_TUNNEL_UNKNOWN", `no tunnel named ${tunnel}`);
    }
  }
}

async function call(
  method: string,
  url: string,
  control = new FakeControl(),
  role: Role = "operator",
) {
  const res = await dispatch(control, { method, url, role, body: async () => "" });
  return {
    ...res,
    json: res.headers["content-type"]?.startsWith("application/json")
      ? JSON.parse(res.body)
      : undefined,
  };
}

t.test("GET /v1/status and /v1/tunnels return the daemon's status as JSON", async (t) => {
  const status = await call("GET", "/v1/status");
  t.equal(status.status, 200);
  t.same(status.json, STATUS);
  const tunnels = await call("GET", "/v1/tunnels?verbose=1");
  t.equal(tunnels.status, 200);
  t.same(tunnels.json, STATUS.tunnels);
});

t.test("GET /metrics is Prometheus text", async (t) => {
  const res = await call("GET", "/metrics");
  t.equal(res.status, 200);
  t.match(res.headers["content-type"], /^text\/plain; version=0\.0\.4/);
  t.equal(res.body, "swanpair_charon_up 1\n");
});

t.test("POST /v1/reload", async (t) => {
  t.test("ok is 200 with the result", async (t) => {
    const res = await call("POST", "/v1/reload");
    t.equal(res.status, 200);
    t.same(res.json, { ok: true, generation: 4, loaded: [], unloaded: [], unchanged: [] });
  });
  t.test("rejected config is 422 with the issues in a ReloadResult", async (t) => {
    const control = new FakeControl();
    const issues = [{ path: "tunnels.0.psk", rule: "required", message: "missing" }];
    control.reloadResult = {
      ok: false,
      generation: 3,
      loaded: [],
      unloaded: [],
      unchanged: [],
      issues,
    };
    const res = await call("POST", "/v1/reload", control);
    t.equal(res.status, 422);
    t.same(res.json.issues, issues);
    t.equal(res.json.ok, false);
  });
  t.test("a failed apply is 500 with the daemon's error message", async (t) => {
    const control = new FakeControl();
    control.reloadResult = {
      ok: false,
      generation: 3,
      loaded: [],
      unloaded: [],
      unchanged: [],
      error: "load-conn failed",
    };
    const res = await call("POST", "/v1/reload", control);
    t.equal(res.status, 500);
    t.same(res.json, { error: { code: "SWP_ERR_API_REQUEST", message: "load-conn failed" } });
  });
  t.test("a thrown SwpError keeps its code", async (t) => {
    const control = new FakeControl();
    control.failWith = new SwpError("SWP_ERR_VICI_CLOSED", "charon went away");
    const res = await call("POST", "/v1/reload", control);
    t.equal(res.status, 500);
    t.same(res.json, { error: { code: "SWP_ERR_VICI_CLOSED", message: "charon went away" } });
  });
  t.test("any other throw is a 500 envelope, not a rejection", async (t) => {
    const control = new FakeControl();
    control.failWith = new TypeError("boom");
    const res = await call("POST", "/v1/reload", control);
    t.equal(res.status, 500);
    t.equal(res.json.error.code, "SWP_ERR_API_REQUEST");
    t.match(res.json.error.message, /boom/);
  });
});

t.test("tunnel actions", async (t) => {
  const control = new FakeControl();
  const initiate = await call("POST", "/v1/tunnels/to-dc1/initiate", control);
  t.equal(initiate.status, 202);
  t.same(initiate.json, { tunnel: "to-dc1", action: "initiate" });
  const terminate = await call("POST", "/v1/tunnels/to-dc1/terminate", control);
  t.equal(terminate.status, 200);
  t.same(control.calls, ["initiate to-dc1", "terminate to-dc1"]);

  const unknown = await call("POST", "/v1/tunnels/nope/initiate", control);
  t.equal(unknown.status, 404);
  t.same(unknown.json, {
    error: { code: "SWP_ERR_TUNNEL_UNKNOWN", message: "no tunnel named nope" },
  });
});

t.test("invalid tunnel names are 400 and never reach the daemon", async (t) => {
  const control = new FakeControl();
  for (const name of ["a%2Fb", "a.b", "%41bc", "", "-lead", "x".repeat(64), "a%20b"]) {
    const res = await call("POST", `/v1/tunnels/${name}/terminate`, control);
    t.equal(res.status, 400, name);
    t.equal(res.json.error.code, "SWP_ERR_API_REQUEST", name);
  }
  t.same(control.calls, []);
});

t.test("unknown paths are 404", async (t) => {
  const control = new FakeControl();
  for (const url of [
    "/",
    "/v1",
    "/v1/status/",
    "/v2/status",
    "/v1/tunnels/to-dc1",
    "/v1/tunnels/to-dc1/restart",
    "/v1/tunnels/to-dc1/constructor",
    "/v1/tunnels/a/b/initiate",
    "/__proto__",
  ]) {
    const res = await call("POST", url, control);
    t.equal(res.status, 404, url);
    t.equal(res.json.error.code, "SWP_ERR_API_REQUEST", url);
  }
  t.same(control.calls, []);
});

t.test("wrong method is 405 with Allow", async (t) => {
  const control = new FakeControl();
  const cases: [string, string, string][] = [
    ["POST", "/v1/status", "GET"],
    ["DELETE", "/v1/tunnels", "GET"],
    ["GET", "/v1/reload", "POST"],
    ["PUT", "/metrics", "GET"],
    ["GET", "/v1/tunnels/to-dc1/initiate", "POST"],
    ["toString", "/v1/status", "GET"],
  ];
  for (const [method, url, allow] of cases) {
    const res = await call(method, url, control);
    t.equal(res.status, 405, `${method} ${url}`);
    t.equal(res.headers.allow, allow, `${method} ${url}`);
    t.match(res.json.error.message, method);
  }
  t.same(control.calls, []);
});

t.test(
  "a reader may GET every reading route; every other method is 403, before it acts",
  async (t) => {
    const control = new FakeControl();
    for (const url of ["/v1/status", "/v1/tunnels", "/metrics"]) {
      t.equal((await call("GET", url, control, "reader")).status, 200, url);
    }
    for (const url of [
      "/v1/reload",
      "/v1/tunnels/to-dc1/initiate",
      "/v1/tunnels/to-dc1/terminate",
    ]) {
      const res = await call("POST", url, control, "reader");
      t.equal(res.status, 403, url);
      t.equal(res.json.error.code, "SWP_ERR_API_REQUEST", url);
      t.match(
        res.json.error.message,
        `forbidden: POST ${url} acts on the agent, which takes an operator certificate (OU=swanpair-operator in its subject)`,
        url,
      );
    }
    t.same(control.calls, [], "the daemon was asked nothing");
    t.equal(
      (await call("POST", "/v1/status", control, "reader")).status,
      405,
      "405 still comes first",
    );
  },
);
