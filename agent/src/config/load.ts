import { configSchema } from "../../../common/agent-config/schema.ts";
import {
  type FileReader,
  readFileFacts,
  TLS_FILE_MAX_BYTES,
} from "../../../common/config-files.ts";
import { type Discover, discoverFromEnv } from "../../../common/imds/discover.ts";
import { parseConfig, readConfigFile } from "../../../common/yaml-config.ts";
import type { ParameterFacts, ParameterFetcher } from "../keys/parameters.ts";
import { fetchSsmParameters } from "../keys/ssm.ts";
import { fillFromImds } from "./discover.ts";
import type { LoadResult } from "./types.ts";
import { verifyConfig } from "./verify.ts";

/**
 * The imperative shell around verify.ts: YAML text to zod output to the facts of the files it
 * names (PSKs, the API's TLS files) and of the SSM parameters holding its keys, to a
 * ResolvedConfig, with what the file leaves out asked of IMDS first (discover.ts). Any issue at
 * any stage yields ok:false and no config. The YAML and zod
 * plumbing is shared with the fleet config, in common/yaml-config.ts; reading and checking the
 * named files, in common/config-files.ts; fetching the keys, in keys/ssm.ts.
 */

export type { FileReader } from "../../../common/config-files.ts";
export { formatPath } from "../../../common/yaml-config.ts";

/** A PSK is a line of text; anything larger is the wrong file. */
export const PSK_FILE_MAX_BYTES = 4096;

/**
 * Throws SwpError SWP_ERR_CONFIG_READ when the config file itself cannot be read (a file too
 * large to be a config is refused unread, as an issue), and SWP_ERR_IMDS_UNAVAILABLE when it
 * leaves out a field IMDS could not tell.
 */
export async function loadConfigFile(path: string): Promise<LoadResult> {
  const read = await readConfigFile(path);
  return read.ok ? loadConfigText(read.text) : read;
}

/**
 * Loads config text, keys in SSM included: start, reload and `validate` all fetch them here.
 * readFile, fetchParameters and discover are injectable so tests need touch neither the disk
 * nor AWS; discover runs only when the config leaves out a field IMDS fills in.
 */
export async function loadConfigText(
  text: string,
  readFile: FileReader = readFileFacts,
  fetchParameters: ParameterFetcher = fetchSsmParameters,
  discover: Discover = discoverFromEnv,
): Promise<LoadResult> {
  const parsed = parseConfig(text, configSchema, "agent configuration");
  if (!parsed.ok) return parsed;
  const config = await fillFromImds(parsed.data, discover);
  const { tunnels, api, ssm } = config;
  // Each path is read once; one named as both a PSK and a TLS file gets the larger limit.
  const pskFiles = tunnels.flatMap((t) =>
    t.type === "peer" ? (t.psk.file ?? []) : t.tunnels.map((x) => x.psk.file),
  );
  const limits = new Map(pskFiles.map((f) => [f, PSK_FILE_MAX_BYTES]));
  const tls = api.listen?.tls;
  for (const f of tls ? [tls.ca, tls.cert, tls.key] : []) limits.set(f, TLS_FILE_MAX_BYTES);
  // Without the ssm section there is nowhere to fetch from; verify says so.
  const names = [...new Set(tunnels.flatMap((t) => (t.type === "peer" ? (t.psk.ssm ?? []) : [])))];
  const [facts, parameters] = await Promise.all([
    Promise.all([...limits].map(async ([f, max]) => [f, await readFile(f, max)] as const)),
    ssm && names.length > 0 ? fetchParameters(ssm, names) : new Map<string, ParameterFacts>(),
  ]);
  return verifyConfig(config, new Map(facts), parameters);
}
