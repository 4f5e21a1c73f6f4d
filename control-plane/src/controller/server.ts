import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SwpError } from "../../../common/errors.ts";
import type { Logger } from "../../../common/logger.ts";
import type { Controller } from "./loop.ts";

/**
 * The controller's read-only HTTP endpoint: GET /v1/status (JSON), GET /metrics (Prometheus),
 * GET /healthz. It changes nothing and holds no secret; bind it to loopback (the default) or
 * to an address only the monitoring network reaches.
 */

export interface StatusServer {
  address: string;
  port: number;
  close(): Promise<void>;
}

/** "127.0.0.1:9470", "[::1]:9470" or ":9470" (all addresses). */
export function parseListen(text: string): { host: string | undefined; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port > 65535)
    throw new Error(`--listen ${text}: expected HOST:PORT, e.g. 127.0.0.1:9470`);
  const host = m[1] ?? m[2];
  return { host: host === "" ? undefined : host, port };
}

/** Why the endpoint could not bind, naming the address as --listen takes it. */
function listenError(
  listen: { host: string | undefined; port: number },
  err: NodeJS.ErrnoException,
): SwpError {
  const host = listen.host?.includes(":") ? `[${listen.host}]` : (listen.host ?? "");
  const why =
    err.code === "EADDRINUSE"
      ? "the address is in use (EADDRINUSE): is another controller running? --listen picks another"
      : err.message;
  return new SwpError(
    "SWP_ERR_FAILED",
    `status endpoint: cannot listen on ${host}:${listen.port}: ${why}`,
    undefined,
    { cause: err },
  );
}

/** `controller` is asked on each request: a reload replaces the controller, not the server. */
export async function startStatusServer(
  controller: () => Controller,
  listen: { host: string | undefined; port: number },
  logger: Logger,
): Promise<StatusServer> {
  const server: Server = createServer((req, res) => {
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET") return send(405, "text/plain", "method not allowed\n");
    if (path === "/v1/status")
      return send(200, "application/json", `${JSON.stringify(controller().status(), null, 2)}\n`);
    if (path === "/healthz") return send(200, "text/plain", "ok\n");
    if (path === "/metrics") {
      controller()
        .metricsText()
        .then(
          (text) => send(200, "text/plain; version=0.0.4", text),
          (err: unknown) => {
            logger.error({ err }, "metrics failed");
            send(500, "text/plain", "metrics failed\n");
          },
        );
      return;
    }
    send(404, "text/plain", "not found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => reject(listenError(listen, err)));
    server.listen(listen.port, listen.host, () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  logger.info({ address, port }, "controller status listening");
  return {
    address,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
