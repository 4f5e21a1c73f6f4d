import { existsSync } from "node:fs";
import { createServer, request, type Server } from "node:http";

/**
 * The lab's way to throttle EC2 for one controller: a small HTTP proxy in front of moto, in the
 * controller's own container. While its flag file exists it lets through `ratePerSecond`
 * requests a second per API action (EC2 keeps a token bucket per action) and answers the rest
 * as EC2 does when a bucket is empty (HTTP 503, RequestLimitExceeded), so the controller's
 * retries and pacing are what is tested.
 */

export const THROTTLE_FLAG = "/run/swanpair-ec2-throttle";
export const GATE_LISTEN = { host: "127.0.0.1", port: 4566 };

/** A token bucket refilled continuously; pure apart from the clock it is given. */
export class TokenBucket {
  readonly #rate: number;
  #tokens: number;
  #last: number;
  constructor(ratePerSecond: number, now: number) {
    this.#rate = ratePerSecond;
    this.#tokens = ratePerSecond;
    this.#last = now;
  }

  take(now: number): boolean {
    this.#tokens = Math.min(this.#rate, this.#tokens + ((now - this.#last) / 1000) * this.#rate);
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

const THROTTLED_BODY = `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>swanpair-lab-gate</RequestID></Response>`;

export interface GateOptions {
  upstream: URL;
  ratePerSecond: number;
  flag?: string;
  onThrottle?: () => void;
}

/** EC2 keeps a bucket per API action; the query API names it in the form body. */
export function actionOf(body: string): string {
  return new URLSearchParams(body).get("Action") ?? "unknown";
}

export function startEc2Gate(o: GateOptions, listen = GATE_LISTEN): Promise<Server> {
  const flag = o.flag ?? THROTTLE_FLAG;
  const buckets = new Map<string, TokenBucket>();
  const allowed = (action: string, now: number) => {
    let b = buckets.get(action);
    if (b === undefined) {
      b = new TokenBucket(o.ratePerSecond, now);
      buckets.set(action, b);
    }
    return b.take(now);
  };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    if (existsSync(flag) && !allowed(actionOf(body.toString()), Date.now())) {
      o.onThrottle?.();
      res.writeHead(503, { "content-type": "text/xml" }).end(THROTTLED_BODY);
      return;
    }
    const upstream = request(
      {
        host: o.upstream.hostname,
        port: o.upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", (err) => {
      if (!res.headersSent) res.writeHead(502).end(err.message);
      else res.destroy();
    });
    upstream.end(body);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => resolve(server));
  });
}
