import { randomUUID } from "node:crypto";
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";

/**
 * An HTTP proxy between the SDK and moto that misbehaves on request, the way EC2 and the
 * network can: throttling, 5xx, latency, dropped connections, any EC2 error. Faults are chosen
 * per request by the EC2 action (`Action=` in the form body), or by a rule that looks at the
 * whole request (e.g. every write naming one route table). Every request's parameters are
 * recorded, so tests can check what was sent (DryRun, which tables). Loopback only.
 */

export type Fault =
  /** 503 RequestLimitExceeded, as EC2 throttles. */
  | { kind: "throttle" }
  /** 500 InternalError. */
  | { kind: "server-error" }
  /** Waits, then forwards: the request still reaches moto, as a slow EC2 would still act on it. */
  | { kind: "latency"; ms: number }
  /**
   * Forwards at once, then holds moto's answer for `ms`: the request has acted on EC2 before
   * the client hears back, so a client paused meanwhile has nothing left unsent at the proxy.
   */
  | { kind: "slow-answer"; ms: number }
  /** Destroys the client's socket without an answer and without forwarding. */
  | { kind: "drop" }
  /** Any EC2 error answer, without forwarding. */
  | { kind: "error"; status: number; code: string; message?: string };

export type ProxyOutcome = "forwarded" | Fault["kind"] | "bucket-empty";

/** One request as the proxy saw it: its action and form parameters (`DryRun`, `RouteTableId`, ...). */
export interface SeenRequest {
  action: string;
  params: Record<string, string>;
  outcome: ProxyOutcome;
  /** Date.now() when it arrived. */
  at: number;
}

/** Picks a fault for a request, or undefined to leave it to the queued faults and the bucket. */
export type FaultRule = (request: {
  action: string;
  params: Record<string, string>;
}) => Fault | undefined;

/** Requests kept for `requests()`; older ones are dropped. */
const MAX_RECORDED = 20_000;

export interface Bucket {
  /** Tokens when full. */
  size: number;
  refillPerSecond: number;
}

const MAX_BODY_BYTES = 1 << 20;
const MAX_LATENCY_MS = 30_000;
const ANY = "*";

function ec2Error(res: ServerResponse, status: number, code: string, message: string) {
  const body =
    `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code>` +
    `<Message>${message}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`;
  res.writeHead(status, { "content-type": "text/xml;charset=UTF-8" });
  res.end(body);
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

export class FaultProxy {
  readonly endpoint: string;
  readonly #server: Server;
  readonly #target: URL;
  readonly #queued = new Map<string, Fault[]>();
  readonly #counts = new Map<string, Map<ProxyOutcome, number>>();
  readonly #rules = new Set<FaultRule>();
  #seen: SeenRequest[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  #bucket: Bucket | ((action: string) => Bucket | undefined) | undefined;
  #inFlight = 0;
  #peakInFlight = 0;
  readonly #tokens = new Map<string, { tokens: number; at: number }>();

  private constructor(server: Server, target: URL) {
    this.#server = server;
    this.#target = target;
    const { port } = server.address() as AddressInfo;
    this.endpoint = `http://127.0.0.1:${port}`;
  }

  /** Listens on a free loopback port and forwards to `target`, itself on loopback. */
  static async start(target: string): Promise<FaultProxy> {
    const url = new URL(target);
    if (url.hostname !== "127.0.0.1" || url.protocol !== "http:")
      throw new Error(`fault proxy forwards to http://127.0.0.1 only, not ${target}`);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", resolve);
    });
    const proxy = new FaultProxy(server, url);
    server.on("request", (req, res) => {
      proxy.#peakInFlight = Math.max(proxy.#peakInFlight, ++proxy.#inFlight);
      res.once("close", () => proxy.#inFlight--);
      proxy.#handle(req, res).catch(() => res.destroy());
    });
    return proxy;
  }

  /** Queues faults for the next requests of `action` ("*": any action), one per request. */
  inject(action: string, ...faults: Fault[]): void {
    this.#queued.set(action, [...(this.#queued.get(action) ?? []), ...faults]);
  }

  /**
   * Adds a rule consulted for every request that has no queued fault: the first rule that
   * returns a fault decides. Kept until `reset()` or until the returned function is called.
   */
  rule(rule: FaultRule): () => void {
    this.#rules.add(rule);
    return () => this.#rules.delete(rule);
  }

  /** Requests seen since the last reset (of `action` only, when given), oldest first. */
  requests(action?: string): SeenRequest[] {
    return this.#seen.filter((r) => action === undefined || r.action === action);
  }

  /**
   * Gives every action its own token bucket, as EC2 does, starting full; requests that find it
   * empty get RequestLimitExceeded. A function gives each action's size and refill (as EC2's
   * categories do; undefined: that action is not throttled). `undefined` turns throttling off.
   */
  throttle(bucket: Bucket | ((action: string) => Bucket | undefined) | undefined): void {
    this.#bucket = bucket;
    this.#tokens.clear();
  }

  /** Requests seen for `action` (all when omitted) that ended in `outcome` (any when omitted). */
  count(action?: string, outcome?: ProxyOutcome): number {
    let n = 0;
    for (const [a, byOutcome] of this.#counts) {
      if (action !== undefined && a !== action) continue;
      for (const [o, c] of byOutcome) if (outcome === undefined || o === outcome) n += c;
    }
    return n;
  }

  /** Most requests open at once since the last reset. */
  get peakInFlight(): number {
    return this.#peakInFlight;
  }

  /** Forgets queued faults, rules, the bucket, the counts, the recorded requests and the peak. */
  reset(): void {
    this.#queued.clear();
    this.#rules.clear();
    this.#counts.clear();
    this.#seen = [];
    this.#peakInFlight = this.#inFlight;
    this.throttle(undefined);
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #record(action: string, outcome: ProxyOutcome, params: Record<string, string>) {
    this.#seen.push({ action, params, outcome, at: Date.now() });
    if (this.#seen.length > MAX_RECORDED) this.#seen.splice(0, this.#seen.length - MAX_RECORDED);
    let byOutcome = this.#counts.get(action);
    if (!byOutcome) {
      byOutcome = new Map();
      this.#counts.set(action, byOutcome);
    }
    byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1);
  }

  #nextFault(action: string, params: Record<string, string>): Fault | undefined {
    for (const key of [action, ANY]) {
      const queue = this.#queued.get(key);
      if (queue?.length) return queue.shift();
    }
    for (const rule of this.#rules) {
      const fault = rule({ action, params });
      if (fault) return fault;
    }
    return undefined;
  }

  /** Takes a token from `action`'s bucket; false when it is empty. */
  #take(action: string): boolean {
    const bucket = typeof this.#bucket === "function" ? this.#bucket(action) : this.#bucket;
    if (!bucket) return true;
    const now = Date.now();
    const state = this.#tokens.get(action) ?? { tokens: bucket.size, at: now };
    state.tokens = Math.min(
      bucket.size,
      state.tokens + ((now - state.at) / 1000) * bucket.refillPerSecond,
    );
    state.at = now;
    this.#tokens.set(action, state);
    if (state.tokens < 1) return false;
    state.tokens -= 1;
    return true;
  }

  async #handle(req: IncomingMessage, res: ServerResponse) {
    const body = await readBody(req);
    if (!body) {
      res.writeHead(413).end();
      return;
    }
    const params = Object.fromEntries(new URLSearchParams(body.toString("utf8")));
    const action = params.Action ?? "unknown";
    const fault = this.#nextFault(action, params);
    if (!fault && !this.#take(action)) {
      this.#record(action, "bucket-empty", params);
      ec2Error(res, 503, "RequestLimitExceeded", "Request limit exceeded.");
      return;
    }
    this.#record(action, fault?.kind ?? "forwarded", params);
    switch (fault?.kind) {
      case "throttle":
        return ec2Error(res, 503, "RequestLimitExceeded", "Request limit exceeded.");
      case "server-error":
        return ec2Error(res, 500, "InternalError", "An internal error has occurred.");
      case "error":
        return ec2Error(res, fault.status, fault.code, fault.message ?? fault.code);
      case "drop":
        req.socket.destroy();
        return;
      case "latency":
        await this.#sleep(fault.ms);
        break;
    }
    await this.#forward(req, res, body, fault?.kind === "slow-answer" ? fault.ms : 0);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(
        () => {
          this.#timers.delete(timer);
          resolve();
        },
        Math.min(ms, MAX_LATENCY_MS),
      );
      this.#timers.add(timer);
    });
  }

  async #forward(req: IncomingMessage, res: ServerResponse, body: Buffer, answerAfterMs = 0) {
    const upstream = httpRequest({
      host: this.#target.hostname,
      port: this.#target.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
    });
    const answer = await new Promise<IncomingMessage>((resolve, reject) => {
      upstream.once("response", resolve);
      upstream.once("error", reject);
      upstream.end(body);
    });
    if (answerAfterMs > 0) await this.#sleep(answerAfterMs);
    // The client may have given up meanwhile (latency): then the answer goes nowhere.
    if (req.socket.destroyed) {
      answer.resume();
      return;
    }
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  }
}
