import { mustLoad } from "../../../common/cli.ts";
import type { LabPlan } from "../lab/plan.ts";
import { loadLabFile } from "../lab/topology/load.ts";

/** The topology file every `swanpair lab` verb that makes a lab reads. */

export const DEFAULT_TOPOLOGY = "swanpair-lab.yml";
export const TOPOLOGY_OPTION = [
  "-t, --topology <file>",
  "the lab's topology file",
  DEFAULT_TOPOLOGY,
] as const;

/** The plan, or exit 2 with every issue and its field path. */
export async function planOrExit(file: string): Promise<LabPlan> {
  const loaded = await loadLabFile(file);
  mustLoad(file, loaded);
  return loaded.plan;
}
