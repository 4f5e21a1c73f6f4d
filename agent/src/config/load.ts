import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { Secret } from "../../../common/secret.ts";
import { errnoText, parseConfig, readConfigFile } from "../../../common/yaml-config.ts";
import { configSchema } from "./schema.ts";
import type { LoadResult } from "./types.ts";
import { type PskFacts, verifyConfig } from "./verify.ts";

/**
 * The imperative shell around verify.ts: YAML text to zod output to PSK file facts to a
 * ResolvedConfig. Any issue at any stage yields ok:false and no config. The YAML and zod
 * plumbing is shared with the fleet config, in common/yaml-config.ts.
 */

export { formatPath } from "../../../common/yaml-config.ts";

export type PskReader = (path: string) => Promise<PskFacts>;

/** A PSK is a line of text; anything larger is the wrong file, and is not read into memory. */
export const PSK_FILE_MAX_BYTES = 4096;

/** Throws SwpError SWP_ERR_CONFIG_READ when the config file itself cannot be read. */
export async function loadConfigFile(path: string): Promise<LoadResult> {
  return loadConfigText(await readConfigFile(path));
}

/** Loads config text; readPsk is injectable so tests need not touch the disk. */
export async function loadConfigText(
  text: string,
  readPsk: PskReader = readPskFile,
): Promise<LoadResult> {
  const parsed = parseConfig(text, configSchema, "agent configuration");
  if (!parsed.ok) return parsed;
  const files = [...new Set(parsed.data.tunnels.map((t) => t.psk.file))];
  const facts = await Promise.all(files.map(async (f) => [f, await readPsk(f)] as const));
  return verifyConfig(parsed.data, new Map(facts));
}

/** Stats through the open descriptor so the mode checked is that of the bytes read. */
export async function readPskFile(path: string): Promise<PskFacts> {
  let fh: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO by mistake must not hang the agent.
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return { exists: false };
    return { exists: true, readError: errnoText(err) };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { exists: true, readError: "not a regular file" };
    if (st.size > PSK_FILE_MAX_BYTES) {
      return { exists: true, readError: `${st.size} bytes; a PSK file holds one key` };
    }
    // latin1 maps each byte to one character, so the charset check sees every stray byte.
    const content = new Secret((await fh.readFile()).toString("latin1"));
    return { exists: true, mode: st.mode, content };
  } catch (err) {
    return { exists: true, readError: errnoText(err) };
  } finally {
    await fh.close();
  }
}
