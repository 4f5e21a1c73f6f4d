import { prometheusContentType } from "prom-client";
import type { ApiErrorBody } from "../../../common/agent-api/error-body.ts";
import { OPERATOR_OU, type Role } from "../../../common/agent-api/roles.ts";
import type { ConfigRefusal } from "../../../common/agent-api/status.ts";
import { type ErrorCode, SwpError } from "../../../common/errors.ts";
import { NAME_PATTERN } from "../../../common/schema-fields.ts";
import { count } from "../../../common/text.ts";
import { CONFIG_FILE_MAX_BYTES, capReport } from "../../../common/yaml-config.ts";
import { reloadOutcome } from "../metrics.ts";
import type { AgentControl } from "./control.ts";

export interface ApiRequest {
  method: string;
  url: string;
  /** What the client may do; see roles.ts. */
  role: Role;
  /**
   * The request body as text; rejects with BodyTooLarge past maxBytes. Only routes that take a
   * body read it, after the role check: a body nobody reads is drained unread.
   */
  body(maxBytes: number): Promise<string>;
}

/** A request body over its route's limit: answered 413. */
export class BodyTooLarge extends Error {
  constructor(maxBytes: number, size?: number) {
    const what = size === undefined ? "the request body is" : `the request body is ${size} bytes,`;
    super(`${what} over this endpoint's limit of ${maxBytes} bytes`);
  }
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

type Handler = (control: AgentControl, req: ApiRequest) => Promise<ApiResponse>;

const JSON_TYPE = "application/json; charset=utf-8";
const YAML_TYPE = "application/yaml; charset=utf-8";

function json(status: number, value: unknown): ApiResponse {
  return { status, headers: { "content-type": JSON_TYPE }, body: `${JSON.stringify(value)}\n` };
}

function error(status: number, code: ErrorCode, message: string): ApiResponse {
  return json(status, { error: { code, message } } satisfies ApiErrorBody);
}

// Maps, not object literals: a path or method like "constructor" must not find Object.prototype.
type Methods = Map<string, Handler>;

const fixedRoutes = new Map<string, Methods>([
  ["/v1/status", new Map([["GET", async (c) => json(200, c.status())]])],
  ["/v1/tunnels", new Map([["GET", async (c) => json(200, c.status().tunnels)]])],
  ["/v1/reload", new Map([["POST", reload]])],
  [
    "/v1/config",
    new Map([
      ["GET", getConfig],
      ["PUT", putConfig],
    ]),
  ],
  ["/metrics", new Map([["GET", metrics]])],
]);

async function reload(c: AgentControl): Promise<ApiResponse> {
  const result = await c.reload();
  switch (reloadOutcome(result)) {
    case "ok":
      return json(200, result);
    // The CLI prints the issues; the body is the ReloadResult, not an error envelope.
    case "rejected":
      return json(422, result);
    case "failed":
      return error(500, "SWP_ERR_API_REQUEST", result.error ?? "reload failed");
  }
}

async function getConfig(c: AgentControl): Promise<ApiResponse> {
  return { status: 200, headers: { "content-type": YAML_TYPE }, body: c.configText() };
}

/** The body is validated as the config file is, so it has the file's size limit. */
async function putConfig(c: AgentControl, req: ApiRequest): Promise<ApiResponse> {
  const result = await c.putConfig(await req.body(CONFIG_FILE_MAX_BYTES));
  switch (reloadOutcome(result)) {
    case "ok":
      return json(200, result);
    case "rejected": {
      const { errors, omitted } = capReport({
        file: "",
        ok: false,
        errors: result.issues ?? [],
        warnings: [],
      });
      const n = count(errors.length + (omitted?.errors ?? 0), "error");
      const message = `the configuration is invalid (${n}); neither the file nor the running config changed`;
      const body: ConfigRefusal = {
        error: {
          code: "SWP_ERR_CONFIG_INVALID",
          message,
          issues: errors,
          ...(omitted && { omitted: omitted.errors }),
        },
      };
      return json(422, body);
    }
    case "failed":
      return error(500, "SWP_ERR_API_REQUEST", result.error ?? "applying the configuration failed");
  }
}

async function metrics(c: AgentControl): Promise<ApiResponse> {
  return {
    status: 200,
    headers: { "content-type": prometheusContentType },
    body: await c.metrics(),
  };
}

interface TunnelAction {
  status: number;
  run(c: AgentControl, name: string): Promise<void>;
}

const tunnelActions = new Map<string, TunnelAction>([
  // initiate only starts IKE; the tunnel comes up later, hence 202.
  ["initiate", { status: 202, run: (c, name) => c.initiate(name) }],
  ["terminate", { status: 200, run: (c, name) => c.terminate(name) }],
]);

const TUNNEL_ACTION_PATH = /^\/v1\/tunnels\/([^/]*)\/([^/]+)$/;

/** Find the methods served at a path; undefined when the path is unknown. */
function resolve(path: string): { methods: Methods } | { badName: string } | undefined {
  const fixed = fixedRoutes.get(path);
  if (fixed) return { methods: fixed };
  const [, name = "", actionName = ""] = TUNNEL_ACTION_PATH.exec(path) ?? [];
  const action = tunnelActions.get(actionName);
  if (!action) return undefined;
  // Checked raw, before any percent-decoding: a valid name never needs escaping.
  if (!NAME_PATTERN.test(name)) return { badName: name };
  const post: Handler = async (c) => {
    await action.run(c, name);
    return json(action.status, { tunnel: name, action: actionName });
  };
  return { methods: new Map([["POST", post]]) };
}

function failure(err: unknown): ApiResponse {
  if (err instanceof BodyTooLarge) return error(413, "SWP_ERR_API_REQUEST", err.message);
  if (err instanceof SwpError) {
    return error(err.code === "SWP_ERR_TUNNEL_UNKNOWN" ? 404 : 500, err.code, err.message);
  }
  const message = err instanceof Error ? err.message : String(err);
  return error(500, "SWP_ERR_API_REQUEST", `internal error: ${message}`);
}

/** Route one request. Never throws: every failure becomes an error response. */
export async function dispatch(control: AgentControl, req: ApiRequest): Promise<ApiResponse> {
  // Only the path matters; a query string is ignored rather than rejected.
  const path = URL.parse(req.url, "http://agent")?.pathname;
  if (path === undefined) return error(400, "SWP_ERR_API_REQUEST", "malformed request URL");
  const route = resolve(path);
  if (!route) return error(404, "SWP_ERR_API_REQUEST", `no such endpoint: ${path}`);
  if ("badName" in route) {
    return error(
      400,
      "SWP_ERR_API_REQUEST",
      `invalid tunnel name ${JSON.stringify(route.badName)}: it starts with a letter and holds only letters, digits, '-' and '_' (1-63 chars)`,
    );
  }
  const handler = route.methods.get(req.method);
  if (!handler) {
    const allow = [...route.methods.keys()].join(", ");
    const res = error(
      405,
      "SWP_ERR_API_REQUEST",
      `${req.method} not allowed on ${path}; use ${allow}`,
    );
    res.headers.allow = allow;
    return res;
  }
  // By method, so that a route added later is guarded without anyone remembering to.
  if (req.method !== "GET" && req.role !== "operator") {
    return error(
      403,
      "SWP_ERR_API_REQUEST",
      `forbidden: ${req.method} ${path} acts on the agent, which takes an operator certificate (OU=${OPERATOR_OU} in its subject); this client's certificate may only read (GET)`,
    );
  }
  try {
    return await handler(control, req);
  } catch (err) {
    return failure(err);
  }
}
