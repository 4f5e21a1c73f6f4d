import { randomBytes } from "node:crypto";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { SwpError } from "../../../common/errors.ts";
import type { SdkErrorShape } from "../../../common/sdk-errors.ts";
import { Secret } from "../../../common/secret.ts";
import { clip } from "../../../common/text.ts";
import type { Fleet } from "../fleet/types.ts";
import type { TunnelKey } from "./tunnel-keys.ts";

/**
 * Writes the tunnels' keys to SSM Parameter Store as SecureStrings (encrypted with the
 * account's aws/ssm KMS key). The only module of the control plane that talks to SSM; it never
 * reads a key back, so an operator's role needs no decryption rights.
 */

/** Bytes of a generated key: 256 bits, as much as the strongest PRF of the presets uses. */
export const KEY_BYTES = 32;

/** A new key in strongSwan's base64 notation, which the agents (and any strongSwan) decode. */
export function generateKey(): Secret {
  return new Secret(`0s${randomBytes(KEY_BYTES).toString("base64")}`);
}

export type EnsureResult = TunnelKey & { result: "created" | "kept" };

/**
 * Creates the keys that do not exist yet and leaves every existing one as it is: SSM refuses
 * to overwrite (Overwrite false), so two operators running this at once cannot both write.
 */
export async function ensureKeys(
  fleet: Pick<Fleet, "region" | "keys">,
  keys: readonly TunnelKey[],
): Promise<EnsureResult[]> {
  return withSsm(fleet, async (ssm) => {
    const results: EnsureResult[] = [];
    for (const key of keys) {
      try {
        await put(ssm, key, false);
        results.push({ ...key, result: "created" });
      } catch (error) {
        if ((error as SdkErrorShape).name !== "ParameterAlreadyExists") throw failed(key, error);
        results.push({ ...key, result: "kept" });
      }
    }
    return results;
  });
}

/** Overwrites the key of `key`'s tunnel with a new one; returns the parameter's new version. */
export async function rotateKey(
  fleet: Pick<Fleet, "region" | "keys">,
  key: TunnelKey,
): Promise<number> {
  return withSsm(fleet, async (ssm) => {
    try {
      return await put(ssm, key, true);
    } catch (error) {
      throw failed(key, error);
    }
  });
}

async function put(ssm: SSMClient, key: TunnelKey, overwrite: boolean): Promise<number> {
  const out = await ssm.send(
    new PutParameterCommand({
      Name: key.parameter,
      Description: `swanpair pre-shared key of the tunnel ${key.appliances.join(" ⇄ ")}`,
      Type: "SecureString",
      Value: generateKey().reveal(),
      Overwrite: overwrite,
    }),
  );
  return out.Version ?? 0;
}

async function withSsm<T>(
  fleet: Pick<Fleet, "region" | "keys">,
  use: (ssm: SSMClient) => Promise<T>,
): Promise<T> {
  const ssm = new SSMClient({
    region: fleet.region,
    endpoint: fleet.keys?.ssm.endpoint ?? process.env.AWS_ENDPOINT_URL_SSM,
    // SSM's PutParameter rate is low; adaptive retries pace a fleet's worth of keys to it.
    retryMode: "adaptive",
    maxAttempts: 6,
  });
  try {
    return await use(ssm);
  } finally {
    ssm.destroy();
  }
}

/**
 * The SDK's error in one line. AWS's own words only for a denial (they name the principal and
 * the resource): a validation message may quote the request, and the request holds the key.
 */
function failed(key: TunnelKey, error: unknown): SwpError {
  const e = error as SdkErrorShape & { message?: string };
  const code = e.name ?? "Error";
  const why =
    code === "AccessDeniedException"
      ? `access denied; the role needs ssm:PutParameter on it (AWS said: ${clip(e.message ?? "")})`
      : code;
  return new SwpError("SWP_ERR_FAILED", `SSM PutParameter ${key.parameter} failed: ${why}`, {
    parameter: key.parameter,
    code,
  });
}
