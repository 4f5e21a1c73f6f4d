import { emit } from "../../../common/cli.ts";
import { table } from "../controller/format.ts";
import { inspectLab } from "../lab/inspect.ts";
import { LAB_OPTION, labStateOrExit } from "./lab-shared.ts";
import type { Verb } from "./shared.ts";

/** `swanpair lab inspect`: the lab's nodes and where each VPC's routes point. */

export const labInspect: Verb = {
  path: "lab inspect",
  examples: ["swanpair lab inspect", "swanpair lab inspect --json | jq '.routes'"],
  register: (parent) =>
    parent
      .command("inspect")
      .description(
        "show the lab's nodes (container state, addresses) and which appliance each VPC's routes point at",
      )
      .option(...LAB_OPTION)
      .option("--json", "print as JSON")
      .action(async (opts: { lab?: string; json?: boolean }) => {
        const view = await inspectLab(await labStateOrExit(opts.lab));
        emit(opts.json, view, () =>
          [
            `lab ${view.lab} (controller ${view.controller}; EC2 API ${view.moto})`,
            "",
            ...table([
              ["NODE", "ROLE", "VPC", "STATE", "ADDRESSES", "CONTAINER"],
              ...view.nodes.map((n) => [
                n.name,
                n.role,
                n.vpc ?? "-",
                n.state,
                n.addresses.join(" "),
                n.container,
              ]),
            ]),
            "",
            ...table([
              ["VPC", "DESTINATION", "TARGET", "APPLIANCE"],
              ...view.routes.map((r) => [r.vpc, r.destination, r.target, r.appliance ?? "?"]),
            ]),
          ].join("\n"),
        );
      }),
};
