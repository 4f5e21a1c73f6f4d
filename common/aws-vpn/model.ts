import type { Secret } from "../secret.ts";
import type { EncryptionAlgorithm, IkeVersion, IntegrityAlgorithm } from "./rules.ts";

/**
 * One AWS Site-to-Site VPN connection as the agent needs it, whichever way it was read (the
 * CustomerGatewayConfiguration XML, or DescribeVpnConnections). "Customer gateway" is this
 * appliance's side, "VPN gateway" is AWS's (a virtual private gateway or a transit gateway).
 */

export type Routing = "static" | "bgp";

/** One IKE (phase 1) or ESP (phase 2) negotiation: the sets AWS will accept, and the lifetime. */
export interface Phase {
  encryption: EncryptionAlgorithm[];
  integrity: IntegrityAlgorithm[];
  /** Phase 1: the IKE DH groups. Phase 2: the PFS groups. */
  dhGroups: number[];
  lifetimeS: number;
}

export interface TunnelBgp {
  customerGatewayAsn: number;
  vpnGatewayAsn: number;
  holdTimeS: number;
}

export interface AwsVpnTunnel {
  outside: { customerGateway: string; vpnGateway: string };
  /** The tunnel's /30 and the address of each end in it. */
  inside: { cidr: string; customerGateway: string; vpnGateway: string };
  psk: Secret<string>;
  /** The versions AWS accepts on this tunnel; the XML says only ikev1 (main mode). */
  ikeVersions: IkeVersion[];
  phase1: Phase;
  phase2: Phase;
  /** AWS's DPD: a probe every delayS; the peer is dead after timeoutS without an answer. */
  dpd: { delayS: number; timeoutS: number };
  /** Present exactly when the connection's routing is BGP. */
  bgp?: TunnelBgp;
}

export interface AwsVpnConnection {
  vpnConnectionId: string;
  customerGatewayId?: string;
  /** Empty for a transit gateway attachment, which the XML gives no id of. */
  vpnGatewayId?: string;
  routing: Routing;
  /** AWS always gives two tunnels, on two endpoints; both are to be used. */
  tunnels: [AwsVpnTunnel, AwsVpnTunnel];
  /** The VPN connection's static routes (DescribeVpnConnections only). */
  staticRoutes?: string[];
  /** The traffic selectors AWS negotiates, when narrowed from 0.0.0.0/0 (DescribeVpnConnections only). */
  localNetworkCidr?: string;
  remoteNetworkCidr?: string;
}
