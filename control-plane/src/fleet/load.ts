import { openRegularFile } from "../../../common/regular-file.ts";
import { parseConfig, readConfigFile } from "../../../common/yaml-config.ts";
import { fleetSchema } from "./schema.ts";
import { type FleetLoadResult, type TlsFileFacts, verifyFleet } from "./verify.ts";

/**
 * The imperative shell around verify.ts: YAML text to zod output to TLS file facts to a
 * resolved Fleet. Any issue at any stage yields ok:false and no fleet.
 */

export type TlsFileChecker = (path: string) => Promise<TlsFileFacts>;

/** Throws SwpError SWP_ERR_CONFIG_READ when the fleet file itself cannot be read. */
export async function loadFleetFile(path: string): Promise<FleetLoadResult> {
  return loadFleetText(await readConfigFile(path));
}

/** Loads fleet text; checkTls is injectable so tests need not touch the disk. */
export async function loadFleetText(
  text: string,
  checkTls: TlsFileChecker = checkTlsFile,
): Promise<FleetLoadResult> {
  const parsed = parseConfig(text, fleetSchema, "fleet configuration");
  if (!parsed.ok) return parsed;
  const { tls } = parsed.data;
  const files = tls ? [...new Set([tls.ca, tls.cert, tls.key])] : [];
  const facts = await Promise.all(files.map(async (f) => [f, await checkTls(f)] as const));
  return verifyFleet(parsed.data, new Map(facts));
}

/**
 * Opens the file, as the controller will, without reading it: the TLS stack parses the
 * PEM when it connects, and reports its own errors with more detail than we could.
 */
export async function checkTlsFile(path: string): Promise<TlsFileFacts> {
  const file = await openRegularFile(path);
  if (file.ok) {
    await file.handle.close();
    return { ok: true };
  }
  const reasons = {
    missing: "does not exist",
    "not-regular": "is not a regular file",
    unreadable: `cannot be read: ${file.reason}`,
  };
  return { ok: false, reason: reasons[file.kind] };
}
