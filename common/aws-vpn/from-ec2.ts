import type { TunnelOption, VpnConnection } from "@aws-sdk/client-ec2";
import { SwpError } from "../errors.ts";
import { EC2_UNAUTHORIZED, NETWORK_CODES, type SdkErrorShape, timedOut } from "../sdk-errors.ts";
import { clip, quote } from "../text.ts";
import { fromXml, type ImportResult } from "./from-xml.ts";
import type { AwsVpnTunnel, Phase } from "./model.ts";
import {
  dpdTimeoutProblem,
  type EncryptionAlgorithm,
  encryptionProblem,
  type IkeVersion,
  type IntegrityAlgorithm,
  ikeVersionProblem,
  integrityProblem,
  type Problem,
  phase1DhGroupProblem,
  phase1LifetimeProblem,
  phase2DhGroupProblem,
  phase2LifetimeProblem,
} from "./rules.ts";
import { XmlReader } from "./xml-reader.ts";

/**
 * A VPN connection from DescribeVpnConnections: its CustomerGatewayConfiguration (the same XML
 * as `--xml` reads), cross-checked with Options.TunnelOptions where EC2 gives them. The XML
 * shows AWS's minimum proposals whatever the tunnel options say; TunnelOptions are what AWS
 * will accept, so where they list values they replace the XML's.
 */

/** Bounds the call, the SDK's own retries included. */
const CALL_TIMEOUT_MS = 15_000;

export interface Ec2Target {
  vpnConnectionId: string;
  region?: string;
  endpoint?: string;
}

/** DescribeVpnConnections for one id; failures become SwpErrors with EC2's code. */
export async function describeVpnConnection(target: Ec2Target): Promise<VpnConnection> {
  // Loaded on first use: the agent's other verbs never load the EC2 SDK.
  const { DescribeVpnConnectionsCommand, EC2Client } = await import("@aws-sdk/client-ec2");
  const endpoint = target.endpoint ?? process.env.AWS_ENDPOINT_URL_EC2;
  const client = new EC2Client({ region: target.region, endpoint });
  try {
    const out = await client.send(
      new DescribeVpnConnectionsCommand({ VpnConnectionIds: [target.vpnConnectionId] }),
      { abortSignal: AbortSignal.timeout(CALL_TIMEOUT_MS) },
    );
    const found = out.VpnConnections?.find((v) => v.VpnConnectionId === target.vpnConnectionId);
    if (!found)
      throw new SwpError(
        "SWP_ERR_EC2_CALL",
        `DescribeVpnConnections: EC2 has no VPN connection ${target.vpnConnectionId}`,
      );
    return found;
  } catch (error) {
    if (error instanceof SwpError) throw error;
    throw ec2Failure(error, endpoint ?? `ec2.${target.region ?? "(default region)"}`);
  } finally {
    client.destroy();
  }
}

/** Also a rejected access key id, which a user running the import by hand may well have. */
const UNAUTHORIZED = new Set([...EC2_UNAUTHORIZED, "InvalidClientTokenId"]);

function ec2Failure(error: unknown, where: string): SwpError {
  const e = error as SdkErrorShape & { message?: string };
  const name = e.name ?? "Error";
  const what = "DescribeVpnConnections";
  if (UNAUTHORIZED.has(name))
    return new SwpError(
      "SWP_ERR_EC2_UNAUTHORIZED",
      `${what}: ${name}: ${clip(e.message ?? "", 300)}; the credentials need ec2:DescribeVpnConnections`,
      undefined,
      { cause: error },
    );
  if (timedOut(e))
    return new SwpError(
      "SWP_ERR_EC2_CALL",
      `${what}: EC2 at ${where} did not answer within ${CALL_TIMEOUT_MS / 1000} s`,
    );
  if (e.code !== undefined && NETWORK_CODES.has(e.code))
    return new SwpError(
      "SWP_ERR_EC2_CALL",
      `${what}: EC2 at ${where} cannot be reached (${e.code})`,
    );
  return new SwpError(
    "SWP_ERR_EC2_CALL",
    `${what}: ${name}: ${clip(e.message ?? "", 300)}`,
    undefined,
    {
      cause: error,
    },
  );
}

/** The model from EC2's description of one VPN connection. */
export function fromVpnConnection(vpn: VpnConnection): ImportResult {
  const r = new XmlReader();
  if (vpn.State === "deleted" || vpn.State === "deleting")
    r.add("State", "state", `the VPN connection is ${vpn.State}`);
  if (!vpn.CustomerGatewayConfiguration) {
    r.add("CustomerGatewayConfiguration", "missing", "is missing from EC2's answer");
    return { ok: false, issues: r.issues };
  }
  const parsed = fromXml(vpn.CustomerGatewayConfiguration);
  if (!parsed.ok) return { ok: false, issues: [...r.issues, ...parsed.issues] };
  const connection = parsed.connection;
  if (vpn.VpnConnectionId && vpn.VpnConnectionId !== connection.vpnConnectionId)
    r.add(
      "vpn_connection/@id",
      "mismatch",
      `is ${connection.vpnConnectionId}, not ${vpn.VpnConnectionId} as EC2 says`,
    );
  const options = vpn.Options;
  if (options?.StaticRoutesOnly !== undefined) {
    const said = options.StaticRoutesOnly ? "static" : "bgp";
    if (said !== connection.routing)
      r.add(
        "Options.StaticRoutesOnly",
        "routing",
        `is ${options.StaticRoutesOnly}, but the configuration's tunnels use ${connection.routing} routing`,
      );
  }
  const tunnelOptions = options?.TunnelOptions ?? [];
  const tunnels = connection.tunnels.map((t, i) => withOptions(r, t, i, tunnelOptions));
  const routes = (vpn.Routes ?? [])
    .filter((route) => route.State !== "deleted" && route.State !== "deleting")
    .flatMap((route) => (route.DestinationCidrBlock ? [route.DestinationCidrBlock] : []));
  const narrowed = (cidr?: string) => (cidr && cidr !== "0.0.0.0/0" ? cidr : undefined);
  const [a, b] = tunnels;
  if (r.issues.length > 0 || !a || !b) return { ok: false, issues: r.issues };
  const local = narrowed(options?.LocalIpv4NetworkCidr);
  const remote = narrowed(options?.RemoteIpv4NetworkCidr);
  return {
    ok: true,
    connection: {
      ...connection,
      tunnels: [a, b],
      ...(routes.length > 0 && { staticRoutes: routes }),
      ...(local && { localNetworkCidr: local }),
      ...(remote && { remoteNetworkCidr: remote }),
    },
  };
}

/** The tunnel with what its TunnelOption says, or undefined after an issue. */
function withOptions(
  r: XmlReader,
  tunnel: AwsVpnTunnel,
  i: number,
  all: TunnelOption[],
): AwsVpnTunnel | undefined {
  if (all.length === 0) return tunnel;
  const k = all.findIndex((o) => o.OutsideIpAddress === tunnel.outside.vpnGateway);
  const xml = `vpn_connection/ipsec_tunnel[${i + 1}]`;
  if (k < 0) {
    r.add(
      "Options.TunnelOptions",
      "mismatch",
      `no tunnel option has OutsideIpAddress ${tunnel.outside.vpnGateway}, ${xml}'s endpoint`,
    );
    return undefined;
  }
  const o = all[k] as TunnelOption;
  const at = `Options.TunnelOptions[${k}]`;
  const before = r.issues.length;
  if (o.TunnelInsideCidr !== undefined && o.TunnelInsideCidr !== tunnel.inside.cidr)
    r.add(
      `${at}.TunnelInsideCidr`,
      "mismatch",
      `is ${quote(o.TunnelInsideCidr)}, but ${xml} has ${tunnel.inside.cidr}`,
    );
  // Compared, never shown.
  if (o.PreSharedKey !== undefined && o.PreSharedKey !== tunnel.psk.reveal())
    r.add(`${at}.PreSharedKey`, "mismatch", `differs from ${xml}/ike/pre_shared_key`);

  const list = <T>(
    field: string,
    values: Array<{ Value?: T }> | undefined,
    check: (v: T) => Problem,
  ) => {
    const out: T[] = [];
    for (const [j, item] of (values ?? []).entries()) {
      if (item.Value === undefined) continue;
      if (r.check(`${at}.${field}[${j}]`, "tunnel-option", check(item.Value))) out.push(item.Value);
    }
    return out;
  };
  const ikeVersions = list<string>("IkeVersions", o.IkeVersions, ikeVersionProblem) as IkeVersion[];
  const phase = (n: 1 | 2, base: Phase): Phase => {
    const p =
      n === 1
        ? {
            enc: o.Phase1EncryptionAlgorithms,
            integ: o.Phase1IntegrityAlgorithms,
            dh: o.Phase1DHGroupNumbers,
            life: o.Phase1LifetimeSeconds,
          }
        : {
            enc: o.Phase2EncryptionAlgorithms,
            integ: o.Phase2IntegrityAlgorithms,
            dh: o.Phase2DHGroupNumbers,
            life: o.Phase2LifetimeSeconds,
          };
    const encryption = list<string>(
      `Phase${n}EncryptionAlgorithms`,
      p.enc,
      encryptionProblem,
    ) as EncryptionAlgorithm[];
    const integrity = list<string>(
      `Phase${n}IntegrityAlgorithms`,
      p.integ,
      integrityProblem,
    ) as IntegrityAlgorithm[];
    const dhGroups = list<number>(
      `Phase${n}DHGroupNumbers`,
      p.dh,
      n === 1 ? phase1DhGroupProblem : phase2DhGroupProblem,
    );
    return {
      encryption: encryption.length > 0 ? encryption : base.encryption,
      integrity: integrity.length > 0 ? integrity : base.integrity,
      dhGroups: dhGroups.length > 0 ? dhGroups : base.dhGroups,
      lifetimeS: p.life ?? base.lifetimeS,
    };
  };
  const phase1 = phase(1, tunnel.phase1);
  const phase2 = phase(2, tunnel.phase2);
  r.check(`${at}.Phase1LifetimeSeconds`, "lifetime", phase1LifetimeProblem(phase1.lifetimeS));
  r.check(
    `${at}.Phase2LifetimeSeconds`,
    "lifetime",
    phase2LifetimeProblem(phase2.lifetimeS, phase1.lifetimeS),
  );
  const timeoutS = o.DpdTimeoutSeconds ?? tunnel.dpd.timeoutS;
  r.check(`${at}.DpdTimeoutSeconds`, "dpd", dpdTimeoutProblem(timeoutS));
  if (r.issues.length > before) return undefined;
  return {
    ...tunnel,
    ikeVersions: ikeVersions.length > 0 ? ikeVersions : tunnel.ikeVersions,
    phase1,
    phase2,
    dpd: { delayS: tunnel.dpd.delayS, timeoutS },
  };
}
