import { openRegularFile } from "../../../common/regular-file.ts";
import { Secret } from "../../../common/secret.ts";
import { errnoText, parseConfig, readConfigFile } from "../../../common/yaml-config.ts";
import { configSchema } from "./schema.ts";
import type { LoadResult } from "./types.ts";
import { type FileFacts, verifyConfig } from "./verify.ts";

/**
 * The imperative shell around verify.ts: YAML text to zod output to the facts of the files it
 * names (PSKs, the API's TLS files) to a ResolvedConfig. Any issue at any stage yields
 * ok:false and no config. The YAML and zod plumbing is shared with the fleet config, in
 * common/yaml-config.ts.
 */

export { formatPath } from "../../../common/yaml-config.ts";

/** Reads a file of at most maxBytes; a larger one is reported, not read into memory. */
export type FileReader = (path: string, maxBytes: number) => Promise<FileFacts>;

/** A PSK is a line of text; anything larger is the wrong file. */
export const PSK_FILE_MAX_BYTES = 4096;
/** Room for a CA bundle of a few hundred certificates. */
export const TLS_FILE_MAX_BYTES = 1024 * 1024;

/** Throws SwpError SWP_ERR_CONFIG_READ when the config file itself cannot be read. */
export async function loadConfigFile(path: string): Promise<LoadResult> {
  return loadConfigText(await readConfigFile(path));
}

/** Loads config text; readFile is injectable so tests need not touch the disk. */
export async function loadConfigText(
  text: string,
  readFile: FileReader = readFileFacts,
): Promise<LoadResult> {
  const parsed = parseConfig(text, configSchema, "agent configuration");
  if (!parsed.ok) return parsed;
  // Each path is read once; one named as both a PSK and a TLS file gets the larger limit.
  const limits = new Map(parsed.data.tunnels.map((t) => [t.psk.file, PSK_FILE_MAX_BYTES]));
  const tls = parsed.data.api.listen?.tls;
  for (const f of tls ? [tls.ca, tls.cert, tls.key] : []) limits.set(f, TLS_FILE_MAX_BYTES);
  const facts = await Promise.all(
    [...limits].map(async ([f, max]) => [f, await readFile(f, max)] as const),
  );
  return verifyConfig(parsed.data, new Map(facts));
}

/** Stats through the open descriptor so the mode checked is that of the bytes read. */
export async function readFileFacts(path: string, maxBytes: number): Promise<FileFacts> {
  const file = await openRegularFile(path);
  if (!file.ok) {
    return file.kind === "missing" ? { exists: false } : { exists: true, readError: file.reason };
  }
  const { handle, stats } = file;
  try {
    if (stats.size > maxBytes) {
      return { exists: true, readError: `${stats.size} bytes, over the limit of ${maxBytes}` };
    }
    // latin1 maps each byte to one character, so the PSK charset check sees every stray byte.
    const content = new Secret((await handle.readFile()).toString("latin1"));
    return { exists: true, mode: stats.mode, content };
  } catch (err) {
    return { exists: true, readError: errnoText(err) };
  } finally {
    await handle.close();
  }
}
