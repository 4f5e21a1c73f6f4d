/** What the AWS SDK v3 throws, as far as our classification of a failed call reads it. */
export interface SdkErrorShape {
  /** The service's error code (e.g. RequestLimitExceeded), or the JS error's name. */
  name?: string;
  /** A socket error's code (ECONNRESET, ...), when the request got no answer. */
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

/** Socket-level failures: the request may or may not have reached the service. */
export const NETWORK_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENOTFOUND",
]);

/** EC2's answers that mean the credentials, or the IAM policy, are what to fix. */
export const EC2_UNAUTHORIZED: ReadonlySet<string> = new Set([
  "UnauthorizedOperation",
  "AuthFailure",
  "CredentialsProviderError",
]);

/** The call's own deadline (an AbortSignal.timeout) ended it: no answer came in time. */
export const timedOut = (e: SdkErrorShape): boolean =>
  e.name === "AbortError" || e.name === "TimeoutError";
