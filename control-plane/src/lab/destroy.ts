import { rm } from "node:fs/promises";
import { removeLab } from "./docker.ts";
import { stopLabMoto } from "./moto.ts";
import { labDir, readLabState } from "./state.ts";

/**
 * `swanpair lab destroy`: every container and network labelled with the lab, its moto, and with
 * `cleanup` its directory (fleet files, PKI, logs). Works from Docker's labels alone, so a
 * lab whose state was lost half-way is removed too.
 */
export async function destroyLab(
  lab: string,
  cleanup: boolean,
): Promise<{ containers: string[]; networks: string[]; moto: boolean; dir?: string }> {
  const state = await readLabState(lab).catch(() => undefined);
  const removed = await removeLab(lab);
  stopLabMoto(state?.moto.pid);
  let dir: string | undefined;
  if (cleanup) {
    dir = labDir(lab);
    await rm(dir, { recursive: true, force: true });
  }
  return { ...removed, moto: state !== undefined, dir };
}
