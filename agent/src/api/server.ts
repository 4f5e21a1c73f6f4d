import { chmod, lstat, mkdir, mkdtemp, rename, rm, unlink } from "node:fs/promises";
import { createServer, type IncomingMessage, type RequestListener, type Server } from "node:http";
import { type AddressInfo, connect, type ListenOptions, type Server as NetServer } from "node:net";
import { dirname, join } from "node:path";
import type { PeerCertificate, TLSSocket } from "node:tls";
import { roleOf } from "../../../common/agent-api/roles.ts";
import { secureContextOptions } from "../../../common/agent-api/tls.ts";
import { SwpError } from "../../../common/errors.ts";
import type { Logger } from "../../../common/logger.ts";
import { errnoText } from "../../../common/regular-file.ts";
import type { ResolvedListen } from "../config/types.ts";
import type { AgentControl } from "./control.ts";
import { BodyTooLarge, dispatch } from "./routes.ts";

export interface ApiServerOptions {
  socketPath: string;
  /** Also serve HTTPS here, to clients with a certificate from listen.tls.ca only. */
  listen?: ResolvedListen;
  control: AgentControl;
  logger: Logger;
}

export interface ApiServer {
  /** The HTTPS listener's bound address and port (port 0 in the options picks a free one). */
  readonly network?: { address: string; port: number };
  /** Stop accepting, remove the socket file, and wait for in-flight requests. */
  close(): Promise<void>;
}

/**
 * Binds the socket, then the HTTPS listener. Throws SwpError SWP_ERR_FAILED naming the config
 * field and the reason when either cannot be bound; nothing is left listening then.
 */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { socketPath, listen, control, logger } = options;
  const handle = requestHandler(control, logger);
  const local = createServer(handle);
  try {
    await mkdir(dirname(socketPath), { recursive: true, mode: 0o700 });
    await refuseIfInUse(socketPath);
    await listenPrivately(local, socketPath);
  } catch (err) {
    throw cannotServe(`api.socket ${socketPath}`, err);
  }
  const servers: Server[] = [local];
  const close = async () => {
    const closed = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    await unlink(socketPath).catch(ignoreCode("ENOENT"));
    await Promise.all(closed);
  };
  logger.info({ socketPath }, "api listening");
  if (!listen) return { close };

  try {
    const network = await listenTls(listen, handle, logger);
    servers.push(network);
    const { address, port } = network.address() as AddressInfo;
    logger.info({ address, port }, "api listening with mutual TLS");
    return { network: { address, port }, close };
  } catch (err) {
    await close();
    throw cannotServe(`api.listen ${listen.address}:${listen.port}`, err);
  }
}

function cannotServe(where: string, err: unknown): SwpError {
  const code = (err as NodeJS.ErrnoException).code;
  const reason =
    code === "EADDRINUSE"
      ? "the address is already in use (EADDRINUSE); is another agent or program listening there?"
      : errnoText(err);
  const message = `cannot serve the API on ${where}: ${reason}`;
  return new SwpError("SWP_ERR_FAILED", message, { code }, { cause: err });
}

/** One handler for both listeners, so the routes and their logging are the same on each. */
function requestHandler(control: AgentControl, logger: Logger): RequestListener {
  return (req, res) => {
    const started = performance.now();
    const method = req.method ?? "GET";
    const url = req.url ?? "/";
    // Over TLS, who asked and what they may do: from the certificate the handshake verified.
    // On the Unix socket (root-only), the caller may do everything.
    const socket = req.socket as Partial<TLSSocket>;
    const peer = socket.encrypted ? socket.getPeerCertificate?.() : undefined;
    const role = peer ? roleOf(peer) : "operator";
    let read = false;
    const body = (maxBytes: number) => {
      read = true;
      return readBody(req, maxBytes);
    };
    void dispatch(control, { method, url, role, body }).then((out) => {
      // A body no route asked for is drained without reading, so it is never held or logged.
      if (!read) req.resume();
      res.writeHead(out.status, out.headers).end(out.body);
      const fields = {
        method,
        url,
        ...(peer && { client: peerName(peer), role }),
        status: out.status,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
      };
      if (out.status >= 500) logger.warn({ ...fields, response: out.body }, "api request failed");
      else logger.debug(fields, "api request");
    });
  };
}

/**
 * The body as UTF-8 text, decoded as a config file is. Past maxBytes it is refused, by its
 * Content-Length or as soon as it grows past, and the rest is drained without being kept. The
 * refusal waits for the end of the body: a connection closed with data unread is reset, and the
 * client would see the reset instead of the answer. The server's requestTimeout bounds the wait.
 */
function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const tooLarge = (declared?: number) => {
      req.off("data", onData).off("end", onEnd);
      req.once("end", () => reject(new BodyTooLarge(maxBytes, declared))).resume();
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) tooLarge();
      else chunks.push(chunk);
    };
    const onEnd = () => resolve(Buffer.concat(chunks).toString("utf8"));
    req.once("error", reject);
    const declared = Number(req.headers["content-length"]);
    if (declared > maxBytes) tooLarge(declared);
    else req.on("data", onData).once("end", onEnd);
  });
}

function peerName(cert: PeerCertificate): string {
  const cn = cert.subject?.CN;
  return Array.isArray(cn) ? cn.join(",") : (cn ?? "");
}

/**
 * requestCert with rejectUnauthorized: the handshake fails for a client without a certificate
 * signed by listen.tls.ca, before any request is read. node:https (and tls with it) is loaded
 * here, only for an agent with api.listen: loading it costs an idle agent 5 MB (decision 0008).
 */
async function listenTls(listen: ResolvedListen, handle: RequestListener, logger: Logger) {
  const { createServer: createHttpsServer } = process.getBuiltinModule("node:https");
  const server = createHttpsServer(
    { ...secureContextOptions(listen.tls), requestCert: true, rejectUnauthorized: true },
    handle,
  );
  server.on("tlsClientError", (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    // Node drops a client whose certificate fails verification without an alert, so the
    // reason is only here; the client sees a reset.
    const reason = socket.authorizationError ?? err.code ?? err.message;
    logger.info({ remote: socket.remoteAddress, reason }, "api refused a TLS client");
  });
  await listenOn(server, { host: listen.address, port: listen.port });
  return server;
}

/**
 * Bind in a fresh 0700 directory, chmod the socket to 0600, then rename it into place.
 * Nobody else can reach the socket while it still has the umask's wider mode, and the
 * rename is atomic, so the public path never names a wider socket. Changing the umask
 * instead would be process-wide, also narrowing files other modules create at that moment.
 */
async function listenPrivately(server: Server, socketPath: string): Promise<void> {
  // Short names: a Unix socket path must fit in 108 bytes.
  const privateDir = await mkdtemp(join(dirname(socketPath), ".api-"));
  const bound = join(privateDir, "s");
  try {
    await listenOn(server, { path: bound });
    await chmod(bound, 0o600);
    await rename(bound, socketPath);
  } catch (err) {
    server.close();
    throw err;
  } finally {
    await rm(privateDir, { recursive: true, force: true });
  }
}

/** server.listen as a promise: rejects on a bind error such as EADDRINUSE. */
function listenOn(server: NetServer, where: ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(where, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/**
 * Refuse if something answers on the path or it is not a socket. A socket left by a
 * crashed agent is not unlinked here: listenPrivately's rename replaces it atomically.
 */
async function refuseIfInUse(socketPath: string): Promise<void> {
  const st = await lstat(socketPath).catch(ignoreCode("ENOENT"));
  if (!st) return;
  if (!st.isSocket()) {
    throw new Error("the path exists and is not a socket; refusing to replace it");
  }
  if (await answers(socketPath)) {
    throw new Error(
      "another swanpair-agent is already serving it; stop it before starting a new one",
    );
  }
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = connect(socketPath);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", (err: NodeJS.ErrnoException) => {
      // ECONNREFUSED: the file is there but no process listens, the crashed-agent case.
      if (err.code === "ECONNREFUSED" || err.code === "ENOENT") resolve(false);
      else reject(err);
    });
  });
}

function ignoreCode(code: string): (err: NodeJS.ErrnoException) => undefined {
  return (err) => {
    if (err.code !== code) throw err;
    return undefined;
  };
}
