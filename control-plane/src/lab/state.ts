import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../../common/atomic-write.ts";
import type { LabEc2Ids, LabPlan } from "./plan.ts";

/**
 * What a deployed lab leaves on the machine that runs it: /run/swanpair-lab/<lab>/ (or under
 * SWANPAIR_LAB_DIR) holds lab.json, the fleet files, the PKI and moto's log. The containers
 * are found by name; this file holds what Docker does not know.
 */

export const LAB_ROOT = process.env.SWANPAIR_LAB_DIR ?? "/run/swanpair-lab";

export interface LabState {
  plan: LabPlan;
  ids: LabEc2Ids;
  image: string;
  /** moto on the internet network's host address. */
  moto: { pid: number; endpoint: string };
  /** The fleet file for `swanpair` on this machine (the containers have their own copy). */
  fleetFile: string;
  /** Partitions in force: node name to the controller rule's comment. */
  partitions: string[];
  /** Nodes whose EC2 API calls are throttled (the controller's, in central mode). */
  throttled: string[];
  createdAt: string;
}

export function labDir(lab: string): string {
  return join(LAB_ROOT, lab);
}

export async function makeLabDir(lab: string): Promise<string> {
  const dir = labDir(lab);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

export async function readLabState(lab: string): Promise<LabState | undefined> {
  try {
    return JSON.parse(await readFile(join(labDir(lab), "lab.json"), "utf8")) as LabState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

export async function writeLabState(state: LabState): Promise<void> {
  await writeFileAtomic(
    join(labDir(state.plan.lab), "lab.json"),
    `${JSON.stringify(state, null, 2)}\n`,
    0o600,
  );
}
