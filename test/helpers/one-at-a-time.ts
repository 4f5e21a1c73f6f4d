import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";

type Teardown = { teardown(fn: () => unknown): void };

/**
 * A forwarder that passes one request at a time, in arrival order. moto's DynamoDB (5.2.5)
 * checks a condition and writes without a lock, on a thread per request, so two concurrent
 * conditional claims of one item can both pass (test/integration/leases.test.ts). DynamoDB
 * evaluates a condition and writes atomically per item; lease traffic through this forwarder
 * gets the same from moto. Loopback only.
 */
export async function oneAtATime(t: Teardown, target: string): Promise<string> {
  const to = new URL(target);
  if (to.hostname !== "127.0.0.1") throw new Error(`loopback only, not ${target}`);
  let queue = Promise.resolve();
  const server = createServer((req, res) => {
    const body: Buffer[] = [];
    req.on("data", (chunk: Buffer) => body.push(chunk));
    req.on("end", () => {
      queue = queue.then(
        () =>
          new Promise<void>((done) => {
            const out = request(
              {
                host: to.hostname,
                port: to.port,
                method: req.method,
                path: req.url,
                headers: { ...req.headers, host: to.host },
              },
              (answer) => {
                const parts: Buffer[] = [];
                answer.on("data", (chunk: Buffer) => parts.push(chunk));
                answer.on("end", () => {
                  res.writeHead(answer.statusCode ?? 502, answer.headers);
                  res.end(Buffer.concat(parts));
                  done();
                });
              },
            );
            out.on("error", () => {
              res.destroy();
              done();
            });
            out.end(Buffer.concat(body));
          }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
