import type { Command } from "commander";
import { ApiClient } from "../../../common/agent-api/client.ts";
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

export async function socketClient(opts: SocketOptions): Promise<ApiClient> {
  return new ApiClient({ socketPath: await socketFrom(opts) });
}

async function socketFrom(opts: SocketOptions): Promise<string> {
  if (opts.socket) return opts.socket;
  if (opts.config) return (await loadOrExit(opts.config)).api.socket;
  return process.env.SWANPAIR_AGENT_SOCKET ?? DEFAULT_SOCKET;
}
