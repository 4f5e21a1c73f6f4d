import type { Test } from "tap";
import type { AgentControl, AgentStatus, ReloadResult } from "../../agent/src/status.ts";
import { SwpError } from "../../common/errors.ts";
import { createLogger } from "../../common/logger.ts";
import { agentStatus, tunnelStatus } from "../fixtures/agent-status.ts";

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
      return this.nextReload;
    },
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
