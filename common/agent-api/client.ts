import { SwpError } from "../errors.ts";
import type { ApiErrorBody } from "./error-body.ts";
import type {
  AgentStatus,
  ConfigPushResult,
  ConfigRefusal,
  ReloadResult,
  TunnelStatus,
} from "./status.ts";
import { type ApiTarget, type Transport, transportFor } from "./transport.ts";

export interface ApiClientOptions {
  /** Whole-request deadline; reload waits for charon, so keep this generous. */
  timeoutMs?: number;
}

interface RawResponse {
  status: number;
  body: string;
}

/** The agent API over its Unix socket or over HTTPS with mutual TLS; the calls are the same. */
export class ApiClient {
  readonly #transport: Transport;
  readonly #timeoutMs: number;

  /** Throws SwpError SWP_ERR_API_UNREACHABLE when the TLS material does not parse. */
  constructor(target: ApiTarget, options: ApiClientOptions = {}) {
    this.#transport = transportFor(target);
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  async status(): Promise<AgentStatus> {
    return this.#json(await this.#ok("GET", "/v1/status"));
  }

  async tunnels(): Promise<TunnelStatus[]> {
    return this.#json(await this.#ok("GET", "/v1/tunnels"));
  }

  /** A rejected config (422) is an answer, not a failure: the result carries the issues to print. */
  async reload(): Promise<ReloadResult> {
    const res = await this.#send("POST", "/v1/reload");
    if (res.status === 422) return this.#json(res);
    return this.#json(this.#check(res));
  }

  /**
   * Pushes a config (PUT /v1/config). A refused config (422) is an answer, not a failure: the
   * refusal carries the issues to print. Other errors throw, as for every call.
   */
  async putConfig(text: string): Promise<ConfigPushResult | ConfigRefusal> {
    const res = await this.#send("PUT", "/v1/config", text);
    if (res.status === 422) return this.#json(res);
    return this.#json(this.#check(res));
  }

  /** The text of the agent's running config (GET /v1/config). */
  async config(): Promise<string> {
    return (await this.#ok("GET", "/v1/config")).body;
  }

  async initiate(tunnel: string): Promise<void> {
    await this.#ok("POST", `/v1/tunnels/${encodeURIComponent(tunnel)}/initiate`);
  }

  async terminate(tunnel: string): Promise<void> {
    await this.#ok("POST", `/v1/tunnels/${encodeURIComponent(tunnel)}/terminate`);
  }

  async metrics(): Promise<string> {
    return (await this.#ok("GET", "/metrics")).body;
  }

  async #ok(method: string, path: string): Promise<RawResponse> {
    return this.#check(await this.#send(method, path));
  }

  /** Turn a non-2xx answer into SWP_ERR_API_REQUEST, keeping the server's own code and message. */
  #check(res: RawResponse): RawResponse {
    if (res.status >= 200 && res.status < 300) return res;
    let server: ApiErrorBody["error"] | undefined;
    try {
      server = (JSON.parse(res.body) as Partial<ApiErrorBody>).error;
    } catch {
      // Not our envelope (a proxy, a crash page): fall back to the raw text below.
    }
    const message = server
      ? `${server.code}: ${server.message}`
      : `HTTP ${res.status}: ${res.body.slice(0, 200)}`;
    throw new SwpError("SWP_ERR_API_REQUEST", `agent answered ${message}`, {
      status: res.status,
      code: server?.code,
      message: server?.message,
    });
  }

  #json<T>(res: RawResponse): T {
    try {
      return JSON.parse(res.body) as T;
    } catch (err) {
      throw new SwpError("SWP_ERR_API_REQUEST", "agent answered with malformed JSON", undefined, {
        cause: err,
      });
    }
  }

  /** `body` goes as YAML text, the only kind of body the API takes. */
  #send(method: string, path: string, body?: string): Promise<RawResponse> {
    const transport = this.#transport;
    return new Promise((resolve, reject) => {
      const req = transport.request(method, path, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") });
        });
        res.on("error", fail);
      });
      const timer = setTimeout(() => {
        req.destroy(
          new SwpError(
            "SWP_ERR_API_UNREACHABLE",
            `no answer from the agent at ${transport.where} within ${this.#timeoutMs}ms: is it hung?`,
          ),
        );
      }, this.#timeoutMs);
      req.on("error", fail);
      if (body !== undefined) {
        req.setHeader("content-type", "application/yaml; charset=utf-8");
        req.setHeader("content-length", Buffer.byteLength(body));
      }
      req.end(body);

      function fail(err: NodeJS.ErrnoException): void {
        clearTimeout(timer);
        reject(err instanceof SwpError ? err : unreachable(transport, err));
      }
    });
  }
}

function unreachable(transport: Transport, err: NodeJS.ErrnoException): SwpError {
  const message = `agent API at ${transport.where}: ${transport.hint(err)}`;
  return new SwpError("SWP_ERR_API_UNREACHABLE", message, undefined, { cause: err });
}
