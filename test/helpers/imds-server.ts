import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Test } from "tap";

/**
 * A small IMDS on 127.0.0.1 that enforces IMDSv2 as EC2 does: PUT /latest/api/token needs
 * X-aws-ec2-metadata-token-ttl-seconds in 1..21600 (else 400); every GET needs a token it
 * issued that has not expired (else 401); unknown paths are 404. It counts and records each
 * request, and injects faults: a delay, a missing Elastic IP, tokens revoked or refused.
 */

export interface FakeInstance {
  instanceId: string;
  privateIp: string;
  publicIp?: string;
  mac: string;
  eni: string;
  availabilityZone: string;
  region: string;
}

export const INSTANCE: FakeInstance = {
  instanceId: "i-0a1b2c3d4e5f60718",
  privateIp: "10.1.1.10",
  publicIp: "198.51.100.10",
  mac: "0e:12:34:56:78:9a",
  eni: "eni-0123456789abcdef0",
  availabilityZone: "eu-west-1a",
  region: "eu-west-1",
};

export interface ImdsRequest {
  method: string;
  path: string;
  /** The status it answered. */
  status: number;
}

export interface ImdsServer {
  endpoint: string;
  /** Every request, in order of arrival. */
  requests: ImdsRequest[];
  /** The instance it describes; change it between requests. */
  instance: FakeInstance;
  /** Delay before each answer, to test timeouts. */
  delayMs: number;
  /** Answer every GET with 401, whatever token it carries (a token that never works). */
  rejectTokens: boolean;
  /** Tokens issued so far. */
  tokensIssued(): number;
  /** Forgets every token, as if they expired: the next GET gets 401. */
  revokeTokens(): void;
  close(): Promise<void>;
}

/** Starts the server; `now` (ms) decides token expiry, so tests can age tokens at once. */
export async function startImdsServer(
  t: Pick<Test, "teardown">,
  opts: { instance?: Partial<FakeInstance>; now?: () => number } = {},
): Promise<ImdsServer> {
  const now = opts.now ?? Date.now;
  const tokens = new Map<string, number>();
  let issued = 0;
  const state = {
    requests: [] as ImdsRequest[],
    instance: { ...INSTANCE, ...opts.instance },
    delayMs: 0,
    rejectTokens: false,
  };

  const answer = (req: IncomingMessage, res: ServerResponse, status: number, body = "") => {
    state.requests.push({ method: req.method ?? "", path: req.url ?? "", status });
    res.writeHead(status, { "content-type": "text/plain" }).end(body);
  };

  const metaData = (path: string): string | undefined => {
    const i = state.instance;
    const values: Record<string, string | undefined> = {
      "instance-id": i.instanceId,
      "local-ipv4": i.privateIp,
      "public-ipv4": i.publicIp,
      mac: i.mac,
      [`network/interfaces/macs/${i.mac}/interface-id`]: i.eni,
      "placement/availability-zone": i.availabilityZone,
      "placement/region": i.region,
    };
    return values[path];
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? "";
    if (url === "/latest/api/token") {
      if (req.method !== "PUT") return answer(req, res, 405);
      const ttl = Number(req.headers["x-aws-ec2-metadata-token-ttl-seconds"]);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return answer(req, res, 400);
      const token = randomBytes(24).toString("base64url");
      tokens.set(token, now() + ttl * 1000);
      issued++;
      return answer(req, res, 200, token);
    }
    if (req.method !== "GET") return answer(req, res, 405);
    const token = req.headers["x-aws-ec2-metadata-token"];
    const expires = typeof token === "string" ? tokens.get(token) : undefined;
    if (expires === undefined || now() >= expires || state.rejectTokens)
      return answer(req, res, 401);
    const prefix = "/latest/meta-data/";
    const value = url.startsWith(prefix) ? metaData(url.slice(prefix.length)) : undefined;
    return value === undefined ? answer(req, res, 404) : answer(req, res, 200, value);
  };

  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (state.delayMs > 0) setTimeout(() => handle(req, res), state.delayMs);
      else handle(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  t.teardown(close);

  return Object.assign(state, {
    endpoint: `http://127.0.0.1:${port}`,
    tokensIssued: () => issued,
    revokeTokens: () => tokens.clear(),
    close,
  });
}

/** An endpoint where nothing listens: a port bound once, then closed. */
export async function deadEndpoint(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
