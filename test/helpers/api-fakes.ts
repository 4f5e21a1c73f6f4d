import { join } from "node:path";
import type { Test } from "tap";
import type { AgentControl } from "../../agent/src/api/control.ts";
import { type ApiServer, startApiServer } from "../../agent/src/api/server.ts";
import type { AgentStatus, ReloadResult } from "../../common/agent-api/status.ts";
import { SwpError } from "../../common/errors.ts";
import { createLogger } from "../../common/logger.ts";
import { agentStatus, tunnelStatus } from "../fixtures/agent-status.ts";
import { readTls, type TlsPaths } from "./certs.ts";
import { tempDir } from "./temp-dir.ts";

/** What the API server tests serve: a fake daemon, a log to read, a short temp dir. */

export const STATUS: AgentStatus = agentStatus([tunnelStatus("to-dc1")]);

/** Answers like the daemon; reload outcome is switchable so both the 200 and 422 paths cross the wire. */
export function control(): AgentControl & { nextReload: ReloadResult; calls: string[] } {
  const known = (name: string) => {
    if (name !== "to-dc1") throw new SwpError("SWP_ERR_TUNNEL_UNKNOWN", `no tunnel named ${name}`);
  };
  return {
    calls: [],
    nextReload: { ok: true, generation: 3, loaded: ["to-dc1"], unloaded: [], unchanged: [] },
    status: () => STATUS,
    async reload() {
      this.calls.push("reload");
      return this.nextReload;
    },
    async putConfig() {
      this.calls.push("putConfig");
      return { ...this.nextReload, configChanged: true };
    },
    configText: () => "",
    async initiate(name) {
      known(name);
      this.calls.push(`initiate ${name}`);
    },
    async terminate(name) {
      known(name);
      this.calls.push(`terminate ${name}`);
    },
    metrics: async () => "swanpair_charon_up 1\n",
  };
}

export function captureLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger(
    { name: "api-test", level: "debug" },
    {
      write: (s: string) => {
        lines.push(JSON.parse(s));
      },
    },
  );
  return { logger, lines };
}

export { tempDir } from "./temp-dir.ts";

export interface TlsApi {
  server: ApiServer;
  control: ReturnType<typeof control>;
  socketPath: string;
  url: string;
  lines: Record<string, unknown>[];
}

/** The real API server on a fresh socket and on 127.0.0.1 with mutual TLS; closed when `t` ends. */
export async function startTlsApi(t: Test, tls: TlsPaths): Promise<TlsApi> {
  const socketPath = join(await tempDir(t), "agent.sock");
  const { logger, lines } = captureLogger();
  const listen = { address: "127.0.0.1", port: 0, tls: await readTls(tls) };
  const ctl = control();
  const server = await startApiServer({ socketPath, listen, control: ctl, logger });
  t.teardown(() => server.close());
  if (!server.network) throw new Error("no network listener");
  const url = `https://127.0.0.1:${server.network.port}`;
  return { server, control: ctl, socketPath, url, lines };
}

export async function rejectsCode(t: Test, p: Promise<unknown>, code: string, message: RegExp) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof SwpError, "throws SwpError");
  if (err instanceof SwpError) {
    t.equal(err.code, code);
    t.match(err.message, message);
  }
}
