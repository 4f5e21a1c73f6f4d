import {
  type FileReader,
  readFileFacts,
  TLS_FILE_MAX_BYTES,
} from "../../../common/config-files.ts";
import { parseConfig, readConfigFile } from "../../../common/yaml-config.ts";
import { configSchema } from "./schema.ts";
import type { LoadResult } from "./types.ts";
import { verifyConfig } from "./verify.ts";

/**
 * The imperative shell around verify.ts: YAML text to zod output to the facts of the files it
 * names (PSKs, the API's TLS files) to a ResolvedConfig. Any issue at any stage yields
 * ok:false and no config. The YAML and zod plumbing is shared with the fleet config, in
 * common/yaml-config.ts; reading and checking the named files, in common/config-files.ts.
 */

export type { FileReader } from "../../../common/config-files.ts";
export { formatPath } from "../../../common/yaml-config.ts";

/** A PSK is a line of text; anything larger is the wrong file. */
export const PSK_FILE_MAX_BYTES = 4096;

/**
 * Throws SwpError SWP_ERR_CONFIG_READ when the config file itself cannot be read; a file too
 * large to be a config is refused unread, as an issue.
 */
export async function loadConfigFile(path: string): Promise<LoadResult> {
  const read = await readConfigFile(path);
  return read.ok ? loadConfigText(read.text) : read;
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
