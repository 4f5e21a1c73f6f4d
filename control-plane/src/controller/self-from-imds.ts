import { SwpError } from "../../../common/errors.ts";
import type { Discover, Instance } from "../../../common/imds/discover.ts";
import type { Fleet } from "../fleet/types.ts";

/**
 * `swanpair controller run --self auto`: the co-located controller finds its own appliance in
 * the fleet by the instance id IMDS gives. Instance ids are unique across accounts and
 * regions; private IPs are not (two VPCs may both use 10.1.1.10), so an IP only ever helps
 * explain a miss. See decision 0020.
 */

export const SELF_AUTO = "auto";

/** The appliance whose instanceId is this instance's, or why none is. */
export function matchSelf(
  fleet: Fleet,
  instance: Instance,
): { ok: true; name: string } | { ok: false; problem: string } {
  const mine = fleet.appliances.filter((a) => a.instanceId === instance.instanceId);
  const [only] = mine;
  if (only && mine.length === 1) return { ok: true, name: only.name };
  const where = `this instance (${instance.instanceId}, ${instance.privateIp} in ${instance.availabilityZone})`;
  if (mine.length > 1)
    return {
      ok: false,
      problem: `--self auto: appliances ${mine.map((a) => a.name).join(", ")} all name ${where}; give --self a name`,
    };
  const sameIp = fleet.appliances.filter((a) => a.address?.private === instance.privateIp);
  const hint = sameIp.length
    ? `; ${sameIp.map((a) => `${a.name} (${a.instanceId})`).join(", ")} has its private IP: is the fleet file's instanceId out of date?`
    : "";
  return {
    ok: false,
    problem: `--self auto: no appliance in the fleet has the instance id of ${where}${hint}`,
  };
}

/** Asks IMDS and matches; IMDS errors come through as SWP_ERR_IMDS_UNAVAILABLE. */
export async function discoverSelf(
  fleet: Fleet,
  discover: Discover,
): Promise<{ ok: true; name: string; instance: Instance } | { ok: false; problem: string }> {
  let instance: Instance;
  try {
    instance = await discover();
  } catch (err) {
    if (!(err instanceof SwpError)) throw err;
    throw new SwpError(
      err.code,
      `--self auto asks IMDS which instance this is: ${err.message}; off EC2, give --self the appliance's name`,
      undefined,
      { cause: err },
    );
  }
  const match = matchSelf(fleet, instance);
  return match.ok ? { ...match, instance } : match;
}
