import { EXIT, ExitError, emit } from "../../../common/cli.ts";
import { formatDemo, runDemo } from "../lab/demo.ts";
import { LabError } from "../lab/lab-error.ts";
import { progressLine } from "./lab-shared.ts";
import { planOrExit, TOPOLOGY_OPTION } from "./lab-topology.ts";
import type { Verb } from "./shared.ts";

/** `swanpair lab demo`: deploy, kill the active appliance under traffic, report, tear down. */

export const labDemo: Verb = {
  path: "lab demo",
  examples: ["swanpair lab demo", "swanpair lab demo --svg /tmp/failover.svg --json"],
  register: (parent) =>
    parent
      .command("demo")
      .description(
        "deploy the lab, send traffic both ways, kill the appliance VPC a's routes point at, wait for traffic to come back, print the timeline (fault, detection, decision, route change, first packet through) and plot packets per 100 ms as SVG; then remove the lab",
      )
      .option(...TOPOLOGY_OPTION)
      .option("--svg <file>", "where to write the plot", "swanpair-demo.svg")
      .option("--keep", "leave the lab running afterwards")
      .option("--json", "print the numbers as JSON")
      .action(async (opts: { topology: string; svg: string; keep?: boolean; json?: boolean }) => {
        const plan = await planOrExit(opts.topology);
        try {
          const result = await runDemo(plan, {
            svg: opts.svg,
            keep: opts.keep === true,
            progress: progressLine(),
          });
          emit(opts.json, result, () => formatDemo(result));
        } catch (err) {
          if (err instanceof LabError) throw new ExitError(EXIT.failed, err.message);
          throw err;
        }
      }),
};
