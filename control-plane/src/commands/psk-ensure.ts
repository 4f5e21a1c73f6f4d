import { emit } from "../../../common/cli.ts";
import { table } from "../controller/format.ts";
import { ensureKeys } from "../keys/store.ts";
import { tunnelKeys } from "../keys/tunnel-keys.ts";
import { keyPrefixOrExit } from "./psk-shared.ts";
import { loadOrExit, type Verb } from "./shared.ts";

/** `swanpair psk ensure`: a key in SSM for every tunnel of the fleet; existing keys are kept. */

export const pskEnsure: Verb = {
  path: "psk ensure",
  examples: [
    "swanpair psk ensure --config fleet.yaml",
    "swanpair psk ensure --config fleet.yaml --json | jq '.keys[] | select(.result == \"created\")'",
  ],
  register: (parent) =>
    parent
      .command("ensure")
      .description(
        "create a key in SSM Parameter Store (a SecureString) for every tunnel of the fleet that has none; existing keys are left as they are",
      )
      .requiredOption("--config <file>", "fleet config (YAML)")
      .action(async (opts: { config: string; json?: boolean }) => {
        const fleet = await loadOrExit(opts.config);
        const prefix = keyPrefixOrExit(fleet);
        const results = await ensureKeys(fleet, tunnelKeys(fleet, prefix));
        const created = results.filter((r) => r.result === "created").length;
        emit(opts.json, { prefix, keys: results }, () =>
          [
            ...table([
              ["PARAMETER", "TUNNEL", "CONNECTIONS", "RESULT"],
              ...results.map((r) => [
                r.parameter,
                r.appliances.join(" ⇄ "),
                r.connections.join(","),
                r.result,
              ]),
            ]),
            `${created} created, ${results.length - created} kept`,
          ].join("\n"),
        );
      }),
};
