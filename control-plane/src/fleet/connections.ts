/**
 * What the two connection kinds have in common for routing: the pairs whose VPCs hold the
 * connection's managed routes (its sides), and what each side routes.
 */

type Kinds =
  | { kind: "site-to-site"; between: readonly string[] }
  | { kind: "aws-vpn"; pair: string };

/** Both pairs of a site-to-site connection; the one pair in front of an AWS managed VPN. */
export function connectionPairs(c: Kinds): readonly string[] {
  return c.kind === "aws-vpn" ? [c.pair] : c.between;
}
