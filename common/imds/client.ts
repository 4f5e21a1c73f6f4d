import { request } from "node:http";
import { SwpError } from "../errors.ts";

/**
 * A client for the EC2 instance metadata service, IMDSv2 only: PUT /latest/api/token for a
 * session token with a TTL, then GETs that carry it. IMDSv1 (GET without a token) is never
 * tried: instances should require tokens, and a v1 fallback would hide that. Node's http only,
 * no proxy: IMDS is link-local and must not be asked through one. See decision 0020.
 */

export const DEFAULT_IMDS_ENDPOINT = "http://169.254.169.254";
/** IMDS answers in microseconds; a second is long, and off EC2 it bounds the wait. */
export const DEFAULT_IMDS_TIMEOUT_MS = 1000;
/** The longest TTL IMDS grants (6 h); a token is only ever used for a few requests. */
export const DEFAULT_TOKEN_TTL_S = 21600;
export const TOKEN_TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds";
export const TOKEN_HEADER = "x-aws-ec2-metadata-token";
/** IMDS values are short lines; anything larger is not IMDS. */
const MAX_BODY_BYTES = 64 * 1024;

export interface ImdsOptions {
  /** http://host[:port]; default DEFAULT_IMDS_ENDPOINT. */
  endpoint?: string;
  /** Per request, connect included. */
  timeoutMs?: number;
  tokenTtlS?: number;
  /** Milliseconds; injectable so tests can age the token without waiting. */
  now?: () => number;
}

interface Answer {
  status: number;
  body: string;
}

const unavailable = (message: string, cause?: unknown) =>
  new SwpError("SWP_ERR_IMDS_UNAVAILABLE", message, undefined, { cause });

export class ImdsClient {
  readonly endpoint: string;
  readonly #timeoutMs: number;
  readonly #ttlS: number;
  readonly #now: () => number;
  #token: { value: Promise<string>; renewAt: number } | undefined;

  constructor(opts: ImdsOptions = {}) {
    this.endpoint = checkEndpoint(opts.endpoint ?? DEFAULT_IMDS_ENDPOINT);
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_IMDS_TIMEOUT_MS;
    this.#ttlS = opts.tokenTtlS ?? DEFAULT_TOKEN_TTL_S;
    if (!Number.isInteger(this.#ttlS) || this.#ttlS < 1 || this.#ttlS > 21600)
      throw new RangeError(`tokenTtlS ${this.#ttlS}: IMDS grants 1 to 21600 s`);
    this.#now = opts.now ?? Date.now;
  }

  /**
   * The text at /latest/meta-data/<path>, or undefined when IMDS has nothing there (404, as
   * public-ipv4 on an instance without one). A 401 means the token expired or was revoked
   * early: one retry with a fresh token.
   */
  async get(path: string): Promise<string | undefined> {
    for (let attempt = 1; ; attempt++) {
      const token = await this.#currentToken();
      const answer = await this.#send("GET", `/latest/meta-data/${path}`, {
        [TOKEN_HEADER]: token,
      });
      if (answer.status === 200) return answer.body;
      if (answer.status === 404) return undefined;
      if (answer.status === 401 && attempt === 1) {
        this.#token = undefined;
        continue;
      }
      throw unavailable(`IMDS at ${this.endpoint} answered GET ${path} with HTTP ${answer.status}`);
    }
  }

  /** One token at a time: concurrent GETs share the PUT in flight. */
  #currentToken(): Promise<string> {
    const now = this.#now();
    if (this.#token === undefined || now >= this.#token.renewAt) {
      // Renew a little early, so a token never expires between our check and IMDS's.
      const margin = Math.min(60_000, (this.#ttlS * 1000) / 4);
      const value = this.#fetchToken();
      this.#token = { value, renewAt: now + this.#ttlS * 1000 - margin };
      value.catch(() => {
        if (this.#token?.value === value) this.#token = undefined;
      });
    }
    return this.#token.value;
  }

  async #fetchToken(): Promise<string> {
    const answer = await this.#send("PUT", "/latest/api/token", {
      [TOKEN_TTL_HEADER]: String(this.#ttlS),
    });
    if (answer.status !== 200 || answer.body === "") {
      // 403: IMDS is disabled for this instance; 404 and the rest: something else answered.
      throw unavailable(
        `IMDS at ${this.endpoint} refused a session token (HTTP ${answer.status}): not on EC2, or IMDS disabled on this instance`,
      );
    }
    return answer.body;
  }

  #send(method: "GET" | "PUT", path: string, headers: Record<string, string>): Promise<Answer> {
    const url = new URL(path, this.endpoint);
    const what = `IMDS at ${this.endpoint} (${method} ${url.pathname})`;
    return new Promise<Answer>((resolve, reject) => {
      const req = request(url, { method, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) req.destroy(unavailable(`${what}: answer over 64 KiB`));
          else chunks.push(chunk);
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      });
      const timer = setTimeout(
        () =>
          req.destroy(
            unavailable(
              `${what}: no answer within ${this.#timeoutMs} ms: not on EC2, or in a container with the PUT hop limit at 1?`,
            ),
          ),
        this.#timeoutMs,
      );
      req.on("close", () => clearTimeout(timer));
      req.on("error", (err: NodeJS.ErrnoException) =>
        reject(
          err instanceof SwpError
            ? err
            : unavailable(`${what}: ${err.code ?? err.message}: not on EC2?`, err),
        ),
      );
      req.end();
    });
  }
}

function checkEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw unavailable(`IMDS endpoint ${JSON.stringify(endpoint)} is not a URL`);
  }
  if (url.protocol !== "http:" || url.pathname !== "/" || url.search !== "")
    throw unavailable(
      `IMDS endpoint ${endpoint} must be http://host[:port] (IMDS speaks plain HTTP)`,
    );
  return url.origin;
}
