/**
 * Where a tunnel's pre-shared key lives in SSM Parameter Store: one SecureString per pair of
 * appliances, shared by both ends, at `${prefix}/psk/${first}/${second}` with the two names in
 * sorted order (so both ends name the same parameter). A path, not a joined name: appliance
 * names may hold "-", and IAM can then grant an appliance its own keys with two patterns.
 */
export function pskParameterName(prefix: string, a: string, b: string): string {
  const [first, second] = [a, b].sort();
  return `${prefix}/psk/${first}/${second}`;
}

/** The two resource patterns (below `prefix`) that cover every key of `appliance`. */
export function pskParameterPatterns(prefix: string, appliance: string): [string, string] {
  return [`${prefix}/psk/${appliance}/*`, `${prefix}/psk/*/${appliance}`];
}
