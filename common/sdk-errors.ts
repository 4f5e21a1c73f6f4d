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
