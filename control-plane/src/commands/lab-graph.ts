import { EXIT, ExitError, print } from "../../../common/cli.ts";
import { type GraphFormat, labGraph } from "../lab/topology/graph.ts";
import { planOrExit, TOPOLOGY_OPTION } from "./lab-topology.ts";
import type { Verb } from "./shared.ts";

/** `swanpair lab graph`: the topology as Mermaid or DOT text. */

const FORMATS: GraphFormat[] = ["mermaid", "dot"];

export const labGraphVerb: Verb = {
  path: "lab graph",
  examples: ["swanpair lab graph", "swanpair lab graph --format dot | dot -Tsvg > lab.svg"],
  register: (parent) =>
    parent
      .command("graph")
      .description(
        "print the lab's topology (VPCs, subnets, routers, appliances, hosts, tunnels) as Mermaid or DOT",
      )
      .option(...TOPOLOGY_OPTION)
      .option("--format <format>", "mermaid or dot", "mermaid")
      .action(async (opts: { topology: string; format: string }) => {
        if (!(FORMATS as string[]).includes(opts.format)) {
          throw new ExitError(EXIT.usage, `--format ${opts.format}: expected mermaid or dot`);
        }
        print(labGraph(await planOrExit(opts.topology), opts.format as GraphFormat));
      }),
};
