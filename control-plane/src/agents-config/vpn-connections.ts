import { describeVpnConnection, fromVpnConnection } from "../../../common/aws-vpn/from-ec2.ts";
import type { AwsVpnConnection } from "../../../common/aws-vpn/model.ts";
import type { ConfigIssue } from "../../../common/yaml-config.ts";
import type { Fleet } from "../fleet/types.ts";
import { awsVpnLinksOf, type VpnConnections } from "./aws-vpn.ts";

/**
 * The VPN connections of the aws-vpn connections `appliances` are members of, as EC2 describes
 * them (DescribeVpnConnections, one call each); none is read when the fleet has none. A
 * document EC2 gives that breaks AWS's rules is an issue at the fleet field naming its id.
 */
export async function readVpnConnections(
  fleet: Fleet,
  appliances: readonly string[],
): Promise<{ vpns: VpnConnections; issues: ConfigIssue[] }> {
  const wanted = new Map<string, string>();
  for (const appliance of appliances)
    for (const { link, index } of awsVpnLinksOf(fleet, appliance))
      wanted.set(
        link.vpnConnections[appliance] as string,
        `connections[${index}].vpnConnections.${appliance}`,
      );
  const vpns = new Map<string, AwsVpnConnection>();
  const issues: ConfigIssue[] = [];
  for (const [id, path] of wanted) {
    const read = fromVpnConnection(
      await describeVpnConnection({
        vpnConnectionId: id,
        region: fleet.region,
        ...(fleet.endpoint !== undefined && { endpoint: fleet.endpoint }),
      }),
    );
    if (read.ok) vpns.set(id, read.connection);
    else
      issues.push(
        ...read.issues.map((i) => ({ ...i, path, message: `${id}: ${i.path}: ${i.message}` })),
      );
  }
  return { vpns, issues };
}
