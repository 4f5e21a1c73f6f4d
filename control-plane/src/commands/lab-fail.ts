import { EXIT, ExitError, emit } from "../../../common/cli.ts";
import { FAULT_MODES, FaultError, type FaultMode, failNode } from "../lab/faults.ts";
import { LAB_OPTION, labStateOrExit } from "./lab-shared.ts";
import type { Verb } from "./shared.ts";

/** `swanpair lab fail NODE --mode ...`: one fault of the failure matrix. */

export const labFail: Verb = {
  path: "lab fail",
  examples: [
    "swanpair lab fail a1 --mode kill",
    "swanpair lab fail a1 --mode partition            # from the controller (co-located: from its partner)",
    "swanpair lab fail a1 --mode partition --from a2  # the link between the pair's members",
  ],
  register: (parent) =>
    parent
      .command("fail")
      .description(
        "inject a fault: kill (docker kill), pause (docker pause), charon (kill -9 charon, the agent lives), partition (drop every packet between NODE and the controller or --from), throttle-ec2 (NODE's controller gets RequestLimitExceeded beyond 2 EC2 calls a second)",
      )
      .argument("<node>", "the node's name (or its container's)")
      .requiredOption("--mode <mode>", `one of ${FAULT_MODES.join(", ")}`)
      .option(
        "--from <node>",
        "partition: the other side (default: the controller; co-located: NODE's partner)",
      )
      .option(...LAB_OPTION)
      .option("--json", "print the fault and its time as JSON")
      .action(
        async (
          node: string,
          opts: { mode: string; from?: string; lab?: string; json?: boolean },
        ) => {
          if (!(FAULT_MODES as readonly string[]).includes(opts.mode)) {
            throw new ExitError(
              EXIT.usage,
              `--mode ${opts.mode}: expected one of ${FAULT_MODES.join(", ")}`,
            );
          }
          const state = await labStateOrExit(opts.lab);
          try {
            const r = await failNode(state, node, opts.mode as FaultMode, opts.from);
            emit(
              opts.json,
              { ...r, at: new Date(r.at).toISOString() },
              () => `${r.node}: ${r.detail}`,
            );
          } catch (err) {
            if (err instanceof FaultError) throw new ExitError(EXIT.usage, err.message);
            throw err;
          }
        },
      ),
};
