import type { TlsMaterial } from "../../../common/agent-api/tls.ts";
import type { Secret } from "../../../common/secret.ts";
import type { ConfigIssue } from "../../../common/yaml-config.ts";

/**
 * The configuration after load and verify: defaults applied, identities and proposals
 * resolved, PSKs and TLS files read. Everything after the verify phase consumes only this.
 */
export interface ResolvedProbe {
  target: string;
  source: string;
  port: number;
  intervalMs: number;
  timeoutMs: number;
  fall: number;
  rise: number;
}

/** A probe along the VPC's routes; without source the kernel picks the address. */
interface PathCommon extends Pick<ResolvedProbe, "target" | "intervalMs" | "fall" | "rise"> {
  name: string;
  source?: string;
}

/** The swanpair probe protocol, to a far agent's responder. */
export interface UdpPath extends PathCommon, Pick<ResolvedProbe, "port" | "timeoutMs"> {
  method: "udp";
}

/** ICMP echo (iputils ping) to any host that answers it; ping has no port or timeout of ours. */
export interface IcmpPath extends PathCommon {
  method: "icmp";
}

export type ResolvedPath = UdpPath | IcmpPath;

/**
 * What an aws-vpn entry adds to each of the two tunnels it becomes, `<entry>-t1` and
 * `<entry>-t2` (one per tunnel of the AWS VPN connection, in AWS's order).
 */
export interface ResolvedAwsVpn {
  entry: string;
  vpnConnectionId: string;
  index: 1 | 2;
  /** The version rendered: 2 when AWS accepts IKEv2 on the tunnel, else 1 (main mode). */
  ikeVersion: 1 | 2;
  /** The tunnel's /30 and each end's address in it (local: this appliance). */
  inside: { cidr: string; local: string; remote: string };
  ikeLifetimeS: number;
  childLifetimeS: number;
  /** AWS's DPD timeout; rendered as IKEv1's dpd_timeout (IKEv2 uses retransmissions). */
  dpdTimeoutS: number;
  routing: "static" | "bgp";
  /** The networks behind AWS's side, routed over the carrying tunnel (static routing). */
  remotePrefixes: string[];
  bgp?: { localAsn: number; remoteAsn: number; holdTimeS: number };
  /** What bgpd announces to AWS (routing bgp). */
  advertise: string[];
  /** The ping of `inside.remote` while this tunnel carries (timeout: the interval). */
  probe: { intervalMs: number; fall: number; rise: number };
}

export interface ResolvedTunnel {
  name: string;
  type: "peer" | "aws-vpn";
  /** Present exactly when type is aws-vpn. */
  aws?: ResolvedAwsVpn;
  remoteAddress: string;
  localId: string;
  remoteId: string;
  /**
   * The key charon gets: text stands for its UTF-8 bytes; bytes are a key decoded from
   * strongSwan's 0x (hex) or 0s (base64) notation, and may be binary.
   */
  psk: Secret<string | Uint8Array>;
  /** Canonical CIDR text. */
  localSubnets: string[];
  remoteSubnets: string[];
  probe?: ResolvedProbe;
  ikeProposals: string[];
  espProposals: string[];
  startAction: "start" | "trap" | "none";
  dpdDelayS: number;
  priority?: number;
  ifId?: number;
}

/** The API's HTTPS listener, with the PEM text of its TLS files. */
export interface ResolvedListen {
  address: string;
  port: number;
  tls: TlsMaterial;
}

export interface ResolvedConfig {
  appliance: { name: string; localAddress: string; publicAddress?: string };
  datapath: "libipsec" | "kernel";
  charon: {
    mode: "child" | "external";
    vici: string;
    binary: string;
    pluginDir: string;
    startTimeoutMs: number;
  };
  stateDir: string;
  api: { socket: string; listen?: ResolvedListen };
  log: { level: "fatal" | "error" | "warn" | "info" | "debug" | "trace" };
  tunnels: ResolvedTunnel[];
  paths: ResolvedPath[];
}

export type { ConfigIssue } from "../../../common/yaml-config.ts";

export type LoadResult =
  | { ok: true; config: ResolvedConfig; warnings: ConfigIssue[] }
  | { ok: false; issues: ConfigIssue[]; warnings: ConfigIssue[] };
