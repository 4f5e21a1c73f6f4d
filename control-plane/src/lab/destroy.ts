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
  const dir = cleanup ? labDir(lab) : undefined;
  try {
    return { ...(await removeLab(lab)), moto: state !== undefined, dir };
  } finally {
    // Also when Docker refused to remove something: moto and the directory are the lab's own.
    stopLabMoto(state?.moto.pid);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }
}
