import { EXIT, ExitError, emit } from "../../../common/cli.ts";
import { destroyLab } from "../lab/destroy.ts";
import { LabError } from "../lab/lab-error.ts";
import { LAB_OPTION, labName } from "./lab-shared.ts";
import type { Verb } from "./shared.ts";

/** `swanpair lab destroy`: removes a lab's containers, networks and moto. */

export const labDestroy: Verb = {
  path: "lab destroy",
  examples: ["swanpair lab destroy", "swanpair lab destroy --lab hub --cleanup"],
  register: (parent) =>
    parent
      .command("destroy")
      .description(
        "remove the lab's containers, networks and EC2 API; --cleanup also its directory (fleet file, PKI, logs)",
      )
      .option(...LAB_OPTION)
      .option("--cleanup", "also remove the lab's directory")
      .option("--json", "print what was removed as JSON")
      .action(async (opts: { lab?: string; cleanup?: boolean; json?: boolean }) => {
        const lab = await labName(opts.lab);
        let removed: Awaited<ReturnType<typeof destroyLab>>;
        try {
          removed = await destroyLab(lab, opts.cleanup === true);
        } catch (err) {
          if (err instanceof LabError) throw new ExitError(EXIT.failed, err.message);
          throw err;
        }
        emit(opts.json, { lab, ...removed }, () =>
          [
            `lab ${lab}: removed ${removed.containers.length} containers and ${removed.networks.length} networks`,
            ...(removed.dir ? [`removed ${removed.dir}`] : []),
          ].join("\n"),
        );
      }),
};
