import { chmod, lstat, mkdir, mkdtemp, rename, rm, unlink } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import type { Logger } from "../../../common/logger.ts";
import type { AgentControl } from "../status.ts";
import { dispatch } from "./routes.ts";

export interface ApiServerOptions {
  socketPath: string;
  control: AgentControl;
  logger: Logger;
}

export interface ApiServer {
  /** Stop accepting, remove the socket file, and wait for in-flight requests. */
  close(): Promise<void>;
}

export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { socketPath, control, logger } = options;
  await mkdir(dirname(socketPath), { recursive: true, mode: 0o700 });
  await refuseIfInUse(socketPath);

  const server = createServer((req, res) => {
    const started = performance.now();
    // No route takes a body; drain without reading so nothing a client sends is ever held or logged.
    req.resume();
    const method = req.method ?? "GET";
    const url = req.url ?? "/";
    void dispatch(control, { method, url }).then((out) => {
      res.writeHead(out.status, out.headers).end(out.body);
      const fields = {
        method,
        url,
        status: out.status,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
      };
      if (out.status >= 500) logger.warn({ ...fields, response: out.body }, "api request failed");
      else logger.debug(fields, "api request");
    });
  });
  await listenPrivately(server, socketPath);
  logger.info({ socketPath }, "api listening");

  return {
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await unlink(socketPath).catch(ignoreCode("ENOENT"));
      await closed;
    },
  };
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
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(bound, () => {
        server.off("error", reject);
        resolve();
      });
    });
    await chmod(bound, 0o600);
    await rename(bound, socketPath);
  } catch (err) {
    server.close();
    throw err;
  } finally {
    await rm(privateDir, { recursive: true, force: true });
  }
}

/**
 * Refuse if something answers on the path or it is not a socket. A socket left by a
 * crashed agent is not unlinked here: listenPrivately's rename replaces it atomically.
 */
async function refuseIfInUse(socketPath: string): Promise<void> {
  const st = await lstat(socketPath).catch(ignoreCode("ENOENT"));
  if (!st) return;
  if (!st.isSocket()) {
    throw new Error(`${socketPath} exists and is not a socket; refusing to replace it`);
  }
  if (await answers(socketPath)) {
    throw new Error(
      `another swanpair-agent is already serving ${socketPath}; stop it before starting a new one`,
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
