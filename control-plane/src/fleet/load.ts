import {
  type FileReader,
  readFileFacts,
  TLS_FILE_MAX_BYTES,
} from "../../../common/config-files.ts";
import { parseConfig, readConfigFile } from "../../../common/yaml-config.ts";
import { fleetSchema } from "./schema.ts";
import { type FleetLoadResult, verifyFleet } from "./verify.ts";

/**
 * The imperative shell around verify.ts: YAML text to zod output to the TLS files' facts to a
 * resolved Fleet. Any issue at any stage yields ok:false and no fleet.
 */

/**
 * Throws SwpError SWP_ERR_CONFIG_READ when the fleet file itself cannot be read; a file too
 * large to be a config is refused unread, as an issue.
 */
export async function loadFleetFile(path: string): Promise<FleetLoadResult> {
  const read = await readConfigFile(path);
  return read.ok ? loadFleetText(read.text) : read;
}

/**
 * Loads fleet text; readFile is injectable so tests need not touch the disk. The TLS files are
 * read and checked as the agent's are (mode, PEM, key of the certificate); the controller
 * reads them again when it connects.
 */
export async function loadFleetText(
  text: string,
  readFile: FileReader = readFileFacts,
): Promise<FleetLoadResult> {
  const parsed = parseConfig(text, fleetSchema, "fleet configuration");
  if (!parsed.ok) return parsed;
  const { tls } = parsed.data;
  const files = tls ? [...new Set([tls.ca, tls.cert, tls.key])] : [];
  const facts = await Promise.all(
    files.map(async (f) => [f, await readFile(f, TLS_FILE_MAX_BYTES)] as const),
  );
  return verifyFleet(parsed.data, new Map(facts));
}
