import { EXIT, ExitError, print } from "../../../common/cli.ts";
import { formatIssue } from "../config/format-issues.ts";
import { type SocketOptions, socketClient, socketOptions } from "./socket-arg.ts";
import type { Verb } from "./verb.ts";

export const reload: Verb = {
  name: "reload",
  examples: ["swanpair-agent reload --config /etc/swanpair/agent.yaml"],
  configure: (command) =>
    socketOptions(command, "re-read the config and apply what changed (like SIGHUP)")
      .option("--json", "print the result as JSON")
      .action(async (opts: SocketOptions & { json?: boolean }) => {
        const result = await (await socketClient(opts)).reload();
        if (opts.json) print(JSON.stringify(result, null, 2));
        else if (result.ok) {
          print(
            `generation ${result.generation}: loaded ${result.loaded.length}, unloaded ${result.unloaded.length}, unchanged ${result.unchanged.length}`,
          );
        } else {
          for (const i of result.issues ?? [])
            process.stderr.write(`${formatIssue(undefined, i)}\n`);
          process.stderr.write(
            `reload rejected: ${result.error ?? "invalid config"}; nothing changed\n`,
          );
        }
        if (!result.ok) throw new ExitError(result.issues?.length ? EXIT.usage : EXIT.failed);
      }),
};
