import type { Command } from "commander";
import type { ApiClient } from "../../../common/agent-api/client.ts";
import { loadOrExit } from "./config-arg.ts";

/** The verbs that talk to a running agent: over its Unix socket, which has full rights. */

const DEFAULT_SOCKET = "/run/swanpair/agent.sock";

export interface SocketOptions {
  socket?: string;
  config?: string;
}

export function socketOptions(command: Command, description: string): Command {
  return command
    .description(description)
    .option(
      "--socket <path>",
      `agent API socket (default: $SWANPAIR_AGENT_SOCKET or ${DEFAULT_SOCKET})`,
    )
    .option("--config <file>", "take the socket path from this agent config");
}

/**
 * Imported here, not at the top: the client's module loads node:https and node:tls, which
 * `run` does not need and an idle agent would keep (decision 0008).
 */
export async function socketClient(opts: SocketOptions): Promise<ApiClient> {
  const { ApiClient } = await import("../../../common/agent-api/client.ts");
  return new ApiClient({ socketPath: await socketFrom(opts) });
}

async function socketFrom(opts: SocketOptions): Promise<string> {
  if (opts.socket) return opts.socket;
  if (opts.config) return (await loadOrExit(opts.config)).api.socket;
  return process.env.SWANPAIR_AGENT_SOCKET ?? DEFAULT_SOCKET;
}
