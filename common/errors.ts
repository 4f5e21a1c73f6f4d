/**
 * The error catalogue. Each code is stable and documented in docs/errors.md;
 * a code is never reused for another meaning.
 */
export const ErrorCodes = {
  SWP_ERR_CONFIG_INVALID: "the configuration failed validation",
  SWP_ERR_CONFIG_READ: "the configuration file could not be read",
  SWP_ERR_VPN_CONFIG_INVALID:
    "an AWS VPN connection's configuration (its CustomerGatewayConfiguration XML or EC2's description) is malformed or breaks AWS's rules",
  SWP_ERR_VICI_COMMAND: "charon answered a VICI command with success=no",
  SWP_ERR_VICI_PROTOCOL: "a VICI frame or message was malformed",
  SWP_ERR_VICI_CLOSED: "the VICI connection closed (charon is gone)",
  SWP_ERR_VICI_TIMEOUT: "a VICI command did not complete in time",
  SWP_ERR_PREFLIGHT:
    "this machine lacks something the config needs (charon, a plugin, /dev/net/tun, kernel IPsec)",
  SWP_ERR_API_UNREACHABLE:
    "the agent API (Unix socket or HTTPS with mutual TLS) could not be reached",
  SWP_ERR_API_REQUEST: "the agent API answered with an error",
  SWP_ERR_TUNNEL_UNKNOWN: "no tunnel of that name is configured",
  SWP_ERR_EC2_CALL:
    "an EC2 API call failed for good, neither throttled nor unauthorised (a permanent error, or retries used up)",
  SWP_ERR_EC2_THROTTLED: "EC2 throttled an API call (RequestLimitExceeded) through every retry",
  SWP_ERR_EC2_UNAUTHORIZED:
    "EC2 refused the credentials or the action (AuthFailure, UnauthorizedOperation), or no credentials were found",
  SWP_ERR_IMDS_UNAVAILABLE:
    "the EC2 instance metadata service (IMDSv2) could not be reached or did not answer as it does on EC2",
  SWP_ERR_FAILOVER_REFUSED: "a manual failover was refused before anything was written",
  SWP_ERR_FAILOVER_OVERTAKEN:
    "a manual failover stopped because a newer decision by another writer overtook it",
  SWP_ERR_FAILOVER_TIMEOUT: "a manual failover did not converge in time",
  SWP_ERR_USAGE: "the command line was wrong: unknown command or option, missing or bad argument",
  SWP_ERR_FAILED: "the operation failed, for a reason its message gives and no other code covers",
  SWP_ERR_INTERNAL: "a bug: an error no code covers; the stack trace goes to stderr",
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class SwpError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  constructor(code: ErrorCode, message: string, details?: unknown, options?: ErrorOptions) {
    super(message, options);
    this.name = "SwpError";
    this.code = code;
    this.details = details;
  }
}
