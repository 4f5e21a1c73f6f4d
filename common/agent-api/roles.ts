import type { PeerCertificate } from "node:tls";

/**
 * Who may do what on the API (docs/decisions/0014-agent-api-roles.md): a reader may GET, an
 * operator may also POST. The Unix socket is root-only, so whoever reaches it is an operator;
 * over HTTPS the client certificate's subject says which.
 */
export type Role = "operator" | "reader";

/** The organisational unit (OU) in a client certificate's subject that makes it an operator's. */
export const OPERATOR_OU = "swanpair-operator";

export function roleOf(cert: PeerCertificate): Role {
  // A subject may hold several OUs; Node then gives an array.
  const ou: string | string[] | undefined = cert.subject?.OU;
  const units = Array.isArray(ou) ? ou : [ou];
  return units.includes(OPERATOR_OU) ? "operator" : "reader";
}
