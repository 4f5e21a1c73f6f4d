import { emit } from "../../../common/cli.ts";
import { type SocketOptions, socketClient, socketOptions } from "./socket-arg.ts";
import type { Verb } from "./verb.ts";

/** initiate and terminate differ only in the API call they make. */
export function tunnelAction(name: "initiate" | "terminate"): Verb {
  return {
    name,
    examples: [`swanpair-agent ${name} to-b1 --socket /run/swanpair/a1/agent.sock`],
    configure: (command) =>
      socketOptions(command, `${name} a tunnel's IKE and CHILD SAs`)
        .argument("<tunnel>", "tunnel name")
        .action(async (tunnel: string, opts: SocketOptions & { json?: boolean }) => {
          await (await socketClient(opts))[name](tunnel);
          emit(opts.json, { ok: true, [name]: tunnel }, () => `${name}: ${tunnel}`);
        }),
  };
}
