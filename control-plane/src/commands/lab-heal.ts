import { EXIT, ExitError, emit } from "../../../common/cli.ts";
import { FaultError, healNode } from "../lab/faults.ts";
import { LAB_OPTION, labStateOrExit } from "./lab-shared.ts";
import type { Verb } from "./shared.ts";

/** `swanpair lab heal NODE`: undo every fault on a node. */

export const labHeal: Verb = {
  path: "lab heal",
  examples: ["swanpair lab heal a1"],
  register: (parent) =>
    parent
      .command("heal")
      .description(
        "undo the faults on NODE: start a killed container, resume a paused one, lift its partitions",
      )
      .argument("<node>", "the node's name (or its container's)")
      .option(...LAB_OPTION)
      .option("--json", "print what was done as JSON")
      .action(async (node: string, opts: { lab?: string; json?: boolean }) => {
        const state = await labStateOrExit(opts.lab);
        try {
          const done = await healNode(state, node);
          emit(opts.json, { node, done }, () =>
            done.length === 0 ? `${node}: nothing to heal` : done.join("\n"),
          );
        } catch (err) {
          if (err instanceof FaultError) throw new ExitError(EXIT.usage, err.message);
          throw err;
        }
      }),
};
