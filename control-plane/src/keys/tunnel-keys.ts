import { pskParameterName } from "../../../common/psk-names.ts";
import { ssmPrefixProblem } from "../fleet/schema.ts";
import type { Fleet } from "../fleet/types.ts";

/**
 * Which pre-shared keys a fleet needs and where they live. Pure. A connection's tunnels form a
 * mesh: every member of one pair with every member of the far pair, one key per tunnel, shared
 * by its two ends (docs/fleet-config.md).
 */

export interface TunnelKey {
  /** The tunnel's two appliances, in the sorted order of the parameter name. */
  appliances: [string, string];
  /** The SSM parameter holding the key. */
  parameter: string;
  /** The connections whose mesh holds this tunnel, in fleet order. */
  connections: string[];
}

export type KeyPrefix = { ok: true; prefix: string } | { ok: false; problem: string };

/**
 * The fleet's `keys.ssm.prefix`, else /swanpair/<tag value>. A written prefix was checked when
 * the fleet loaded; the default is checked here, since a tag value may hold characters (a
 * space, "@") that SSM names may not.
 */
export function keyPrefix(fleet: Pick<Fleet, "tag" | "keys">): KeyPrefix {
  const given = fleet.keys?.ssm.prefix;
  if (given !== undefined) return { ok: true, prefix: given };
  const prefix = `/swanpair/${fleet.tag.value}`;
  const problem = ssmPrefixProblem(prefix);
  if (problem === undefined) return { ok: true, prefix };
  return {
    ok: false,
    problem: `the default key prefix comes from tag.value, but ${problem}; set keys.ssm.prefix in the fleet file`,
  };
}

/**
 * Every key the fleet's connections need (or only `connection`'s), each once even when several
 * connections' meshes share a tunnel. Throws on an unknown connection or pair: the fleet loader
 * has checked every reference, so that is a bug or a typo the caller reports.
 */
export function tunnelKeys(
  fleet: Pick<Fleet, "pairs" | "connections">,
  prefix: string,
  connection?: string,
): TunnelKey[] {
  const members = (pair: string) => {
    const found = fleet.pairs.find((p) => p.name === pair);
    if (!found) throw new Error(`tunnelKeys: no pair named ${pair}`);
    return found.members;
  };
  const keys = new Map<string, TunnelKey>();
  for (const c of fleet.connections) {
    // An aws-vpn connection's keys are AWS's (awsVpnKeys), one per VPN tunnel.
    if (c.kind === "aws-vpn" || (connection !== undefined && c.name !== connection)) continue;
    const [near, far] = c.between;
    for (const a of members(near)) {
      for (const b of members(far)) {
        const parameter = pskParameterName(prefix, a, b);
        const key = keys.get(parameter);
        if (key) {
          if (!key.connections.includes(c.name)) key.connections.push(c.name);
          continue;
        }
        const appliances = [a, b].sort() as [string, string];
        keys.set(parameter, { appliances, parameter, connections: [c.name] });
      }
    }
  }
  return [...keys.values()];
}
