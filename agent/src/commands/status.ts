import { print, useColor } from "../../../common/cli.ts";
import { formatStatus } from "../api/format-status.ts";
import { type SocketOptions, socketClient, socketOptions } from "./socket-arg.ts";
import type { Verb } from "./verb.ts";

export const status: Verb = {
  name: "status",
  examples: [
    "swanpair-agent status --socket /run/swanpair/a1/agent.sock",
    "swanpair-agent status --config /etc/swanpair/agent.yaml --json",
  ],
  configure: (command) =>
    socketOptions(command, "show the agent's tunnels and charon")
      .option("--json", "print the status as JSON")
      .action(async (opts: SocketOptions & { json?: boolean }) => {
        const status = await (await socketClient(opts)).status();
        print(
          opts.json
            ? JSON.stringify(status, null, 2)
            : formatStatus(status, { now: new Date(), color: useColor() }),
        );
      }),
};
