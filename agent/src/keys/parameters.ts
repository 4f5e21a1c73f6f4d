import type { Secret } from "../../../common/secret.ts";

/**
 * What the loader learned about the SSM parameters a config names, for verify's pure key rules,
 * as FileFacts are for the PSK files. Fetched by ssm.ts; a failure is a fact, never a throw.
 */

/** The config's `ssm` section: where the parameters are read. */
export interface SsmSettings {
  region: string;
  /** Endpoint override (moto, VPC endpoints); else AWS_ENDPOINT_URL_SSM, else the region's. */
  endpoint?: string | undefined;
}

export type ParameterFacts =
  /** `type` is SSM's: SecureString, String or StringList. The value is decrypted. */
  | { found: true; type: string; value: Secret }
  /** Why not, in words fit for an error line: missing, access denied, SSM unreachable. */
  | { found: false; reason: string };

export type Parameters = ReadonlyMap<string, ParameterFacts>;

/** Reads every name; one fact per name, whatever happened to the others. */
export type ParameterFetcher = (
  ssm: SsmSettings,
  names: readonly string[],
) => Promise<Map<string, ParameterFacts>>;
