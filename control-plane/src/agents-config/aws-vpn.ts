import type { ConfigInput } from "../../../common/agent-config/schema.ts";
import { pskFilePath, toEntry } from "../../../common/aws-vpn/entry.ts";
import type { AwsVpnConnection } from "../../../common/aws-vpn/model.ts";
import { sameIp } from "../../../common/cidr.ts";
import type { ConfigIssue } from "../../../common/yaml-config.ts";
import type { AwsVpnLink, Fleet } from "../fleet/types.ts";
import { forAppliance, type RenderFacts } from "./facts.ts";

/**
 * A member of a pair in front of an AWS managed VPN runs one aws-vpn entry per such
 * connection: its own VPN connection as EC2 describes it, named after the fleet connection
 * (so its tunnels are `<connection>-t1/-t2`, which the controller reads), with the keys in the
 * files `swanpair-agent import-vpn --psk-dir` writes on the appliance.
 */

type Entry = Extract<NonNullable<ConfigInput["tunnels"]>[number], { type: "aws-vpn" }>;

/** The VPN connections read from EC2, by id. */
export type VpnConnections = ReadonlyMap<string, AwsVpnConnection>;

/** XFRM interface ids of aws-vpn tunnels start here, above any appliance's place in the fleet. */
export const AWS_IF_ID_BASE = 0x10000;

/** The aws-vpn connections whose pair `appliance` is a member of, with their fleet index. */
export function awsVpnLinksOf(
  fleet: Fleet,
  appliance: string,
): Array<{ link: AwsVpnLink; index: number }> {
  return fleet.connections.flatMap((c, index) => {
    if (c.kind !== "aws-vpn") return [];
    const pair = fleet.pairs.find((p) => p.name === c.pair);
    return pair?.members.includes(appliance) ? [{ link: c, index }] : [];
  });
}

/**
 * What stops an appliance's aws-vpn entries from being rendered: a VPN connection EC2 did not
 * give, or one whose customer gateway is not the appliance's public address.
 */
export function awsVpnIssues(
  fleet: Fleet,
  appliance: string,
  publicAddress: string | undefined,
  vpns: VpnConnections,
): ConfigIssue[] {
  return awsVpnLinksOf(fleet, appliance).flatMap(({ link, index }) => {
    const id = link.vpnConnections[appliance] as string;
    const path = `connections[${index}].vpnConnections.${appliance}`;
    const vpn = vpns.get(id);
    if (vpn === undefined)
      return [{ path, rule: "vpn-connection", message: `${id} was not read from EC2` }];
    const gateways = [...new Set(vpn.tunnels.map((t) => t.outside.customerGateway))];
    if (publicAddress === undefined || gateways.every((g) => sameIp(g, publicAddress))) return [];
    return [
      {
        path,
        rule: "vpn-connection",
        message: `${id}'s customer gateway is ${gateways.join(", ")}, not ${appliance}'s public address ${publicAddress}; AWS sends its IKE there`,
      },
    ];
  });
}

/** The appliance's aws-vpn entries and the path probe of each, in fleet order. */
export function awsVpnParts(
  fleet: Fleet,
  appliance: string,
  facts: RenderFacts,
  vpns: VpnConnections,
): { entries: Entry[]; paths: NonNullable<ConfigInput["paths"]> } {
  const { settings } = facts;
  const own = facts.addresses.get(appliance);
  const vpcCidrs = () => {
    const vpc = fleet.appliances.find((a) => a.name === appliance)?.vpc;
    return [...(fleet.vpcs.find((v) => v.name === vpc)?.cidrs ?? [])];
  };
  const entries: Entry[] = [];
  const paths: NonNullable<ConfigInput["paths"]> = [];
  for (const { link, index } of awsVpnLinksOf(fleet, appliance)) {
    const vpn = vpns.get(link.vpnConnections[appliance] as string);
    // awsVpnIssues proved it is there.
    if (vpn === undefined) throw new Error(`awsVpnParts: no VPN connection for ${appliance}`);
    const dir = forAppliance(settings.awsVpn.pskDir, appliance);
    const entry = toEntry(vpn, [
      pskFilePath(dir, vpn.vpnConnectionId, 1),
      pskFilePath(dir, vpn.vpnConnectionId, 2),
    ]);
    const { intervalMs, fall, rise } = settings.probe ?? {};
    entries.push({
      ...entry,
      name: link.name,
      ...(vpn.routing === "static"
        ? { remotePrefixes: link.remoteCidrs }
        : { advertise: vpcCidrs() }),
      ...(settings.probe !== undefined && {
        probe: {
          ...(intervalMs !== undefined && { intervalMs }),
          ...(fall !== undefined && { fall }),
          ...(rise !== undefined && { rise }),
        },
      }),
      ...(settings.datapath === "kernel" && {
        tunnels: entry.tunnels.map((t, k) => ({ ...t, ifId: AWS_IF_ID_BASE + 2 * index + k + 1 })),
      }),
    });
    // Through the VPC's routes, so through the active member and its VPN connection.
    if (own?.pathSource !== undefined)
      paths.push({
        name: link.name,
        method: "icmp",
        target: link.pathTarget,
        source: own.pathSource,
        ...(intervalMs !== undefined && { intervalMs }),
        ...(fall !== undefined && { fall }),
        ...(rise !== undefined && { rise }),
      });
  }
  return { entries, paths };
}
