import { readdir } from "node:fs/promises";
import { EXIT, ExitError } from "../../../common/cli.ts";
import { LAB_ROOT, type LabState, readLabState } from "../lab/state.ts";

/** What the `swanpair lab` verbs share: which lab, its state, and progress on a terminal. */

export const DEFAULT_LAB = "demo";

/** --lab, else the only lab deployed on this machine, else "demo". */
export async function labName(given: string | undefined): Promise<string> {
  if (given !== undefined) return given;
  const labs = await readdir(LAB_ROOT).catch(() => [] as string[]);
  return labs.length === 1 && labs[0] !== undefined ? labs[0] : DEFAULT_LAB;
}

export async function labStateOrExit(given: string | undefined): Promise<LabState> {
  const lab = await labName(given);
  const state = await readLabState(lab);
  if (state === undefined) {
    throw new ExitError(EXIT.failed, `no lab ${lab} is deployed here (swanpair lab deploy)`);
  }
  return state;
}

/** Long steps say what they do on a terminal and stay quiet when piped. */
export function progressLine(stream: NodeJS.WriteStream = process.stderr): (line: string) => void {
  const start = Date.now();
  return stream.isTTY
    ? (line) =>
        stream.write(`[${((Date.now() - start) / 1000).toFixed(1).padStart(5)} s] ${line}\n`)
    : () => undefined;
}

export const LAB_OPTION = [
  "--lab <name>",
  "the lab's name (default: the only lab deployed here, else demo)",
] as const;
