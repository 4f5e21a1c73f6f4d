import { NETWORK_CODES, type SdkErrorShape, timedOut } from "../../../common/sdk-errors.ts";
import { Secret } from "../../../common/secret.ts";
import { clip } from "../../../common/text.ts";
import type { ParameterFacts, ParameterFetcher } from "./parameters.ts";

/**
 * The adapter that reads a config's keys from SSM Parameter Store: GetParameters with
 * decryption, at most 10 names per call (SSM's limit), with the SDK's default credential chain
 * (on EC2: the instance role). Every outcome becomes a ParameterFacts; the values stay wrapped.
 */

export const GET_PARAMETERS_MAX = 10;
/** Bounds one call, the SDK's own retries included, so a reload never hangs on a dead endpoint. */
const CALL_TIMEOUT_MS = 10_000;

export const fetchSsmParameters: ParameterFetcher = async (ssm, names) => {
  // Loaded on first use: an agent whose keys are all in files never loads the SDK (~38 MB).
  const { GetParametersCommand, SSMClient } = await import("@aws-sdk/client-ssm");
  const endpoint = ssm.endpoint ?? process.env.AWS_ENDPOINT_URL_SSM;
  const where = endpoint ?? `ssm.${ssm.region}`;
  const client = new SSMClient({ region: ssm.region, endpoint });
  const facts = new Map<string, ParameterFacts>();
  try {
    for (let i = 0; i < names.length; i += GET_PARAMETERS_MAX) {
      const batch = names.slice(i, i + GET_PARAMETERS_MAX);
      try {
        const out = await client.send(
          new GetParametersCommand({ Names: batch, WithDecryption: true }),
          { abortSignal: AbortSignal.timeout(CALL_TIMEOUT_MS) },
        );
        for (const p of out.Parameters ?? []) {
          if (p.Name === undefined) continue;
          facts.set(p.Name, { found: true, type: p.Type ?? "", value: new Secret(p.Value ?? "") });
        }
        for (const name of out.InvalidParameters ?? []) {
          facts.set(name, { found: false, reason: "does not exist" });
        }
      } catch (error) {
        const reason = failure(error, where);
        for (const name of batch) facts.set(name, { found: false, reason });
      }
    }
  } finally {
    client.destroy();
  }
  for (const name of names) {
    if (!facts.has(name)) facts.set(name, { found: false, reason: "is missing from SSM's answer" });
  }
  return facts;
};

/**
 * Why a call failed, for an error line. AWS's own message is kept only for answers SSM gave
 * (an error answer never carries a parameter's value) and for access denials, whose message
 * names the principal and the resource: what an operator needs to fix the policy.
 */
function failure(error: unknown, where: string): string {
  const e = error as SdkErrorShape & { message?: string };
  const name = e.name ?? "Error";
  const message = clip(e.message ?? "", 300);
  if (name === "AccessDeniedException") {
    return `cannot be read: access denied; the agent's credentials need ssm:GetParameters on it and kms:Decrypt on its KMS key through SSM (AWS said: ${message})`;
  }
  if (name === "CredentialsProviderError") {
    return "cannot be read: no AWS credentials found (on EC2, the instance role gives them)";
  }
  if (timedOut(e)) {
    return `cannot be read: SSM at ${where} did not answer within ${CALL_TIMEOUT_MS / 1000} s`;
  }
  if (e.code !== undefined && NETWORK_CODES.has(e.code)) {
    return `cannot be read: SSM at ${where} cannot be reached (${e.code})`;
  }
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 400)
    return `cannot be read: SSM answered ${name}: ${message}`;
  return `cannot be read: ${name}`;
}
