import type { SecureContextOptions } from "node:tls";
import type { Secret } from "../secret.ts";

/**
 * The PEM text one end of the agent API's mutual TLS is configured with. The agent and the
 * control plane both load it once; the key stays wrapped so that no log line can show it.
 */
export interface TlsMaterial {
  /** CA certificates that sign the other end: the clients for the agent, the agent for a client. */
  ca: string;
  /** This end's certificate (chain). */
  cert: string;
  key: Secret;
}

/** The settings both ends share. TLS 1.2 at least; Node negotiates 1.3 whenever both have it. */
export function secureContextOptions(tls: TlsMaterial): SecureContextOptions {
  return { ca: tls.ca, cert: tls.cert, key: tls.key.reveal(), minVersion: "TLSv1.2" };
}
