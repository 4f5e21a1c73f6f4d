import type { ParsedConfig, WrittenConfig } from "../../../common/agent-config/schema.ts";
import { SwpError } from "../../../common/errors.ts";
import type { Discover, Instance } from "../../../common/imds/discover.ts";

/**
 * Fills in what an agent config leaves out from the EC2 instance metadata service, between
 * parse and verify (so discovered values meet the same checks as written ones):
 * - appliance.localAddress: the private IP; and with it, when also left out,
 *   appliance.publicAddress: the Elastic IP, if the instance has one;
 * - ssm.region, when the ssm section is there without it: the instance's region.
 * A config that gives these never asks IMDS. A written localAddress without publicAddress
 * keeps meaning "no public address", as off EC2. See decision 0020.
 */

/** The field paths this config leaves to IMDS, in the order they appear in the file. */
export function imdsFields(written: WrittenConfig): string[] {
  return [
    ...(written.appliance.localAddress === undefined ? ["appliance.localAddress"] : []),
    ...(written.ssm !== undefined && written.ssm.region === undefined ? ["ssm.region"] : []),
  ];
}

export async function fillFromImds(
  written: WrittenConfig,
  discover: Discover,
): Promise<ParsedConfig> {
  const fields = imdsFields(written);
  const instance = fields.length > 0 ? await ask(discover, fields) : undefined;
  const { appliance, ssm, ...rest } = written;
  const localAddress = appliance.localAddress ?? instance?.privateIp;
  const publicAddress =
    appliance.publicAddress ??
    (appliance.localAddress === undefined ? instance?.publicIp : undefined);
  const region = ssm?.region ?? instance?.region;
  // Discover returns every field but publicIp, so nothing asked for can stay empty.
  if (localAddress === undefined || (ssm !== undefined && region === undefined))
    throw new Error(`fillFromImds: ${fields.join(", ")} stayed empty`);
  return {
    ...rest,
    appliance: {
      ...appliance,
      localAddress,
      ...(publicAddress !== undefined && { publicAddress }),
    },
    ...(ssm !== undefined && region !== undefined && { ssm: { ...ssm, region } }),
  };
}

async function ask(discover: Discover, fields: string[]): Promise<Instance> {
  try {
    return await discover();
  } catch (err) {
    if (!(err instanceof SwpError)) throw err;
    throw new SwpError(
      err.code,
      `${fields.join(" and ")} not in the config, so asked of IMDS: ${err.message}; off EC2, write ${fields.length > 1 ? "them" : "it"} into the config`,
      undefined,
      { cause: err },
    );
  }
}
