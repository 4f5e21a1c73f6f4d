import type { ResolvedTunnel } from "../config/types.ts";

/**
 * Carrier groups (decision 0017): tunnels whose CHILD_SAs have identical selectors, such as
 * the tunnels of a mesh to both members of a far pair, compete for the same traffic. Each group
 * lists its members by preference: ascending priority, ties and no priority in config order.
 * Only groups of two or more are returned; a tunnel alone belongs to none.
 */
export function carrierGroups(tunnels: readonly ResolvedTunnel[]): ResolvedTunnel[][] {
  const bySelectors = new Map<string, ResolvedTunnel[]>();
  for (const t of tunnels) {
    // Subnets are canonical CIDR text; a CHILD_SA's selectors are a set. An aws-vpn entry's two
    // tunnels are a group of their own (decision 0023), whatever else shares their selectors.
    const key = t.aws
      ? `aws-vpn ${t.aws.entry}`
      : `${[...t.localSubnets].sort().join(",")} ${[...t.remoteSubnets].sort().join(",")}`;
    bySelectors.set(key, [...(bySelectors.get(key) ?? []), t]);
  }
  const rank = (t: ResolvedTunnel) => t.priority ?? Number.MAX_SAFE_INTEGER;
  return [...bySelectors.values()]
    .filter((group) => group.length > 1)
    .map((group) => group.toSorted((a, b) => rank(a) - rank(b)));
}
