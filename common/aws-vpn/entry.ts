import { join } from "node:path";
import type { AwsVpnConnection, AwsVpnTunnel } from "./model.ts";
import type { AwsVpnEntryInput } from "./schema.ts";

/**
 * The model as the agent config's tunnel entry (schema.ts), keys by file. The entry never
 * holds a key: each tunnel's key goes to its own file, named after the connection and tunnel.
 */

/** An entry's tunnels in the agent, and in its status: `<entry>-t1` and `<entry>-t2`. */
export const awsTunnelName = (entry: string, index: 1 | 2) => `${entry}-t${index}`;

/** `<dir>/<vpn-id>-tunnel<n>.psk`, n = 1 or 2 in AWS's order. */
export function pskFilePath(dir: string, vpnConnectionId: string, n: 1 | 2): string {
  return join(dir, `${vpnConnectionId}-tunnel${n}.psk`);
}

export function toEntry(
  connection: AwsVpnConnection,
  pskFiles: [string, string],
): AwsVpnEntryInput {
  const tunnel = (t: AwsVpnTunnel, file: string) => ({
    outside: { local: t.outside.customerGateway, remote: t.outside.vpnGateway },
    inside: { cidr: t.inside.cidr, local: t.inside.customerGateway, remote: t.inside.vpnGateway },
    psk: { file },
    ikeVersions: t.ikeVersions,
    phase1: t.phase1,
    phase2: t.phase2,
    dpd: t.dpd,
    ...(t.bgp && {
      bgp: {
        localAsn: t.bgp.customerGatewayAsn,
        remoteAsn: t.bgp.vpnGatewayAsn,
        holdTimeS: t.bgp.holdTimeS,
      },
    }),
  });
  const [a, b] = connection.tunnels;
  return {
    name: connection.vpnConnectionId,
    type: "aws-vpn",
    vpnConnectionId: connection.vpnConnectionId,
    routing: connection.routing,
    ...(connection.staticRoutes && { staticRoutes: connection.staticRoutes }),
    ...(connection.localNetworkCidr && { localNetworkCidr: connection.localNetworkCidr }),
    ...(connection.remoteNetworkCidr && { remoteNetworkCidr: connection.remoteNetworkCidr }),
    tunnels: [tunnel(a, pskFiles[0]), tunnel(b, pskFiles[1])],
  };
}
