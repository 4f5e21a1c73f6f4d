import { bigIntToIp, ipProblem, ipToBigInt } from "../cidr.ts";
import { Secret } from "../secret.ts";
import { quote } from "../text.ts";
import type { ConfigIssue } from "../yaml-config.ts";
import type { AwsVpnConnection, AwsVpnTunnel, Phase, TunnelBgp } from "./model.ts";
import {
  asnProblem,
  dpdTimeoutProblem,
  type EncryptionAlgorithm,
  holdTimeProblem,
  type IntegrityAlgorithm,
  ikeModeProblem,
  insideAddressesProblem,
  insideCidrProblem,
  phase1DhGroupProblem,
  phase1LifetimeProblem,
  phase2DhGroupProblem,
  phase2LifetimeProblem,
  pskProblem,
} from "./rules.ts";
import { parseXml, XmlError } from "./xml.ts";
import { type At, XmlReader } from "./xml-reader.ts";

/**
 * AWS's generic CustomerGatewayConfiguration document (what DescribeVpnConnections returns in
 * that field) to the model, checked against AWS's rules. Every problem names its element.
 *
 * The document shows one proposal per phase (AWS's minimum: aes-128-cbc, sha1, group2, IKEv1
 * main mode), whatever the tunnel options allow; from-ec2.ts widens them from TunnelOptions.
 * Elements this reader does not know (tcp_mss_adjustment, tunnel_inside_ipv6_address, ...) are
 * left alone: AWS adds fields over time.
 */

export type ImportResult =
  | { ok: true; connection: AwsVpnConnection }
  | { ok: false; issues: ConfigIssue[] };

// The XML's names for what the API calls AES128, SHA2-256, ... Documents seen in the wild carry
// aes-128-cbc, sha1 and hmac-sha1-96 only; the GCM and SHA-2 spellings follow the same pattern.
const ENCRYPTION: Record<string, EncryptionAlgorithm> = {
  "aes-128-cbc": "AES128",
  "aes-256-cbc": "AES256",
  "aes-128-gcm-16": "AES128-GCM-16",
  "aes-256-gcm-16": "AES256-GCM-16",
};
const IKE_INTEGRITY: Record<string, IntegrityAlgorithm> = {
  sha1: "SHA1",
  "sha2-256": "SHA2-256",
  "sha2-384": "SHA2-384",
  "sha2-512": "SHA2-512",
};
const ESP_INTEGRITY: Record<string, IntegrityAlgorithm> = {
  "hmac-sha1-96": "SHA1",
  "hmac-sha2-256-128": "SHA2-256",
  "hmac-sha2-384-192": "SHA2-384",
  "hmac-sha2-512-256": "SHA2-512",
};

const ROOT = "vpn_connection";

export function fromXml(text: string): ImportResult {
  let root: ReturnType<typeof parseXml>;
  try {
    root = parseXml(text);
  } catch (error) {
    if (!(error instanceof XmlError)) throw error;
    return {
      ok: false,
      issues: [{ path: "", rule: "xml", message: `not well-formed XML: ${error.message}` }],
    };
  }
  const r = new XmlReader();
  if (root.name !== ROOT) {
    r.add(
      root.name,
      "root",
      `the root element is <${root.name}>; AWS's configuration has <${ROOT}>`,
    );
    return { ok: false, issues: r.issues };
  }
  const at: At = { el: root, path: ROOT };
  const id = root.attributes.id;
  if (id === undefined) r.add(`${ROOT}/@id`, "missing", "is missing: the VPN connection id");
  else if (!/^vpn-[0-9a-f]{8,17}$/.test(id))
    r.add(
      `${ROOT}/@id`,
      "format",
      `${quote(id)} is not a VPN connection id such as vpn-0123456789abcdef0`,
    );
  const customerGatewayId = r.field(at, "customer_gateway_id", true);
  const vpnGatewayId = r.text(r.child(at, "vpn_gateway_id", true), true);
  const type = r.field(at, "vpn_connection_type", true);
  if (type !== undefined && type !== "ipsec.1")
    r.add(
      `${ROOT}/vpn_connection_type`,
      "type",
      `${quote(type)} is not ipsec.1, the only type AWS has`,
    );

  const elements = r.all(at, "ipsec_tunnel");
  for (let n = elements.length + 1; n <= 2; n++)
    r.add(
      `${ROOT}/ipsec_tunnel[${n}]`,
      "tunnels",
      "is missing: AWS gives every VPN connection two tunnels",
    );
  if (elements.length > 2)
    r.add(
      `${ROOT}/ipsec_tunnel[3]`,
      "tunnels",
      `is one too many: a VPN connection has two tunnels, not ${elements.length}`,
    );
  const tunnels = elements
    .slice(0, 2)
    .map((el, i) => tunnel(r, { el, path: `${ROOT}/ipsec_tunnel[${i + 1}]` }));

  const routing = routingOf(r, at, tunnels);
  const [a, b] = tunnels;
  if (a && b) {
    if (a.inside.cidr === b.inside.cidr)
      r.add(
        `${ROOT}/ipsec_tunnel[2]/vpn_gateway/tunnel_inside_address`,
        "distinct",
        `is ${a.inside.cidr}, the same /30 as ipsec_tunnel[1]'s; AWS gives each tunnel its own`,
      );
    if (a.outside.vpnGateway === b.outside.vpnGateway)
      r.add(
        `${ROOT}/ipsec_tunnel[2]/vpn_gateway/tunnel_outside_address`,
        "distinct",
        `is ${a.outside.vpnGateway}, ipsec_tunnel[1]'s endpoint too; AWS gives each tunnel its own public address`,
      );
  }
  if (r.issues.length > 0 || !a || !b || !routing || id === undefined)
    return { ok: false, issues: r.issues };
  return {
    ok: true,
    connection: {
      vpnConnectionId: id,
      ...(customerGatewayId && { customerGatewayId }),
      ...(vpnGatewayId && { vpnGatewayId }),
      routing,
      tunnels: [a, b],
    },
  };
}

/** A tunnel with every field read, or undefined when one is wrong (the issues say which). */
function tunnel(r: XmlReader, at: At): AwsVpnTunnel | undefined {
  const before = r.issues.length;
  const cgw = r.child(at, "customer_gateway");
  const vgw = r.child(at, "vpn_gateway");
  const outside = {
    customerGateway: address(r, cgw, "tunnel_outside_address"),
    vpnGateway: address(r, vgw, "tunnel_outside_address"),
  };
  const inside = insideOf(r, cgw, vgw);
  const ike = r.child(at, "ike");
  const ipsec = r.child(at, "ipsec");

  const mode = r.field(ike, "mode");
  if (ike && mode !== undefined) r.check(`${ike.path}/mode`, "ike-mode", ikeModeProblem(mode));
  const pskText = r.field(ike, "pre_shared_key");
  if (ike && pskText !== undefined)
    r.check(`${ike.path}/pre_shared_key`, "psk", pskProblem(pskText));
  const phase1 = phaseOf(r, ike, IKE_INTEGRITY, 1);
  const phase2 = phaseOf(r, ipsec, ESP_INTEGRITY, 2, phase1?.lifetimeS);
  if (ipsec) {
    const protocol = r.field(ipsec, "protocol");
    if (protocol !== undefined && protocol !== "esp")
      r.add(`${ipsec.path}/protocol`, "esp", `${quote(protocol)} is not esp, which AWS uses`);
    const ipsecMode = r.field(ipsec, "mode");
    if (ipsecMode !== undefined && ipsecMode !== "tunnel")
      r.add(
        `${ipsec.path}/mode`,
        "tunnel-mode",
        `${quote(ipsecMode)} is not tunnel, which AWS uses`,
      );
  }
  const dpd = dpdOf(r, ipsec);
  const bgp = bgpOf(r, cgw, vgw);

  if (r.issues.length > before) return undefined;
  if (!outside.customerGateway || !outside.vpnGateway || !inside || pskText === undefined)
    return undefined;
  if (!phase1 || !phase2 || !dpd) return undefined;
  return {
    outside: { customerGateway: outside.customerGateway, vpnGateway: outside.vpnGateway },
    inside,
    psk: new Secret(pskText),
    ikeVersions: ["ikev1"],
    phase1,
    phase2,
    dpd,
    ...(bgp && { bgp }),
  };
}

function address(r: XmlReader, side: At | undefined, name: string): string | undefined {
  return ipIn(r, side && r.child(side, name));
}

function ipIn(r: XmlReader, el: At | undefined): string | undefined {
  const ip = r.field(el, "ip_address");
  if (!el || ip === undefined) return undefined;
  const problem = ipProblem(ip);
  return r.check(`${el.path}/ip_address`, "ip", problem) ? ip : undefined;
}

/** Each side's inside address with its mask and prefix; both must describe the same /30. */
function insideOf(
  r: XmlReader,
  cgw: At | undefined,
  vgw: At | undefined,
): AwsVpnTunnel["inside"] | undefined {
  const sides = [cgw, vgw].map((side) => {
    const el = side && r.child(side, "tunnel_inside_address");
    const ip = ipIn(r, el);
    const mask = r.field(el, "network_mask");
    const prefix = r.int(el, "network_cidr");
    if (!el || ip === undefined || mask === undefined || prefix === undefined) return undefined;
    if (prefix > 32)
      return r.add(`${el.path}/network_cidr`, "cidr", `/${prefix} is not an IPv4 prefix length`);
    const maskBits = prefix === 0 ? 0n : ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - prefix)) - 1n);
    if (ipProblem(mask) || ipToBigInt(mask) !== maskBits)
      return r.add(
        `${el.path}/network_mask`,
        "cidr",
        `${quote(mask)} does not match network_cidr /${prefix}`,
      );
    const cidr = `${bigIntToIp(ipToBigInt(ip) & maskBits, 4)}/${prefix}`;
    if (!r.check(el.path, "inside-cidr", insideCidrProblem(cidr))) return undefined;
    return { ip, cidr, path: el.path };
  });
  const [c, v] = sides;
  if (!c || !v) return undefined;
  if (c.cidr !== v.cidr)
    return r.add(
      v.path,
      "inside-cidr",
      `is in ${v.cidr}, the customer gateway's in ${c.cidr}; both ends share one /30`,
    );
  if (!r.check(v.path, "inside-cidr", insideAddressesProblem(c.cidr, c.ip, v.ip))) return undefined;
  return { cidr: c.cidr, customerGateway: c.ip, vpnGateway: v.ip };
}

function phaseOf(
  r: XmlReader,
  at: At | undefined,
  integrityNames: Record<string, IntegrityAlgorithm>,
  n: 1 | 2,
  phase1LifetimeS?: number,
): Phase | undefined {
  if (!at) return undefined;
  const enc = r.field(at, "encryption_protocol");
  const integ = r.field(at, "authentication_protocol");
  const pfs = r.field(at, "perfect_forward_secrecy");
  const lifetime = r.int(at, "lifetime");
  const encryption = enc === undefined ? undefined : ENCRYPTION[enc];
  if (enc !== undefined && !encryption)
    r.add(
      `${at.path}/encryption_protocol`,
      "encryption",
      `${quote(enc)} is not an encryption AWS accepts (${Object.keys(ENCRYPTION).join(", ")})`,
    );
  const integrity = integ === undefined ? undefined : integrityNames[integ];
  if (integ !== undefined && !integrity)
    r.add(
      `${at.path}/authentication_protocol`,
      "integrity",
      `${quote(integ)} is not an integrity algorithm AWS accepts (${Object.keys(integrityNames).join(", ")})`,
    );
  let group: number | undefined;
  if (pfs !== undefined) {
    const m = /^group(\d{1,3})$/.exec(pfs);
    if (!m)
      r.add(
        `${at.path}/perfect_forward_secrecy`,
        "dh-group",
        `${quote(pfs)} is not a Diffie-Hellman group such as group14`,
      );
    else {
      const g = Number(m[1]);
      const problem = n === 1 ? phase1DhGroupProblem(g) : phase2DhGroupProblem(g);
      if (r.check(`${at.path}/perfect_forward_secrecy`, "dh-group", problem)) group = g;
    }
  }
  if (lifetime !== undefined) {
    const problem =
      n === 1 ? phase1LifetimeProblem(lifetime) : phase2LifetimeProblem(lifetime, phase1LifetimeS);
    if (!r.check(`${at.path}/lifetime`, "lifetime", problem)) return undefined;
  }
  if (!encryption || !integrity || group === undefined || lifetime === undefined) return undefined;
  return {
    encryption: [encryption],
    integrity: [integrity],
    dhGroups: [group],
    lifetimeS: lifetime,
  };
}

/** AWS's side declares the peer dead after `retries` unanswered probes `interval` apart. */
function dpdOf(r: XmlReader, ipsec: At | undefined): AwsVpnTunnel["dpd"] | undefined {
  const el = ipsec && r.child(ipsec, "dead_peer_detection");
  const interval = r.int(el, "interval");
  const retries = r.int(el, "retries");
  if (!el || interval === undefined || retries === undefined) return undefined;
  if (interval < 1) return r.add(`${el.path}/interval`, "dpd", "must be at least 1 s");
  const timeoutS = interval * retries;
  const problem = dpdTimeoutProblem(timeoutS);
  if (problem) return r.add(el.path, "dpd", `interval × retries: ${problem}`);
  return { delayS: interval, timeoutS };
}

/** BGP is present on both sides or on neither; its absence means static routing. */
function bgpOf(r: XmlReader, cgw: At | undefined, vgw: At | undefined): TunnelBgp | undefined {
  if (!cgw || !vgw) return undefined;
  const c = r.child(cgw, "bgp", true);
  const v = r.child(vgw, "bgp", true);
  if (!c && !v) return undefined;
  if (!c || !v) {
    const [has, lacks] = c ? [c, vgw] : [v as At, cgw];
    return r.add(
      `${lacks.path}/bgp`,
      "bgp",
      `is missing, while ${has.path.split("/").slice(-2).join("/")} is there`,
    );
  }
  const read = (side: At) => {
    const asn = r.int(side, "asn");
    const hold = r.int(side, "hold_time");
    if (asn !== undefined) r.check(`${side.path}/asn`, "asn", asnProblem(asn));
    if (hold !== undefined) r.check(`${side.path}/hold_time`, "hold-time", holdTimeProblem(hold));
    return { asn, hold };
  };
  const [cb, vb] = [read(c), read(v)];
  if (
    cb.asn === undefined ||
    vb.asn === undefined ||
    cb.hold === undefined ||
    vb.hold === undefined
  )
    return undefined;
  if (cb.hold !== vb.hold)
    return r.add(
      `${v.path}/hold_time`,
      "hold-time",
      `is ${vb.hold} s, the customer gateway's ${cb.hold} s; they must agree`,
    );
  return { customerGatewayAsn: cb.asn, vpnGatewayAsn: vb.asn, holdTimeS: vb.hold };
}

/** BGP when every tunnel has it, static when none has; the optional attribute must agree. */
function routingOf(
  r: XmlReader,
  at: At,
  tunnels: Array<AwsVpnTunnel | undefined>,
): "static" | "bgp" | undefined {
  const elements = r.all(at, "ipsec_tunnel").slice(0, 2);
  const hasBgp = elements.map((el) =>
    el.children.some(
      (side) =>
        "name" in side &&
        side.name === "vpn_gateway" &&
        side.children.some((c) => "name" in c && c.name === "bgp"),
    ),
  );
  const routing = hasBgp.every(Boolean) ? "bgp" : hasBgp.some(Boolean) ? undefined : "static";
  if (routing === undefined) {
    const n = hasBgp.indexOf(false) + 1;
    return r.add(
      `${ROOT}/ipsec_tunnel[${n}]/vpn_gateway/bgp`,
      "bgp",
      `is missing, while the other tunnel uses BGP`,
    );
  }
  const attributes = r.field(at, "vpn_connection_attributes", true);
  if (attributes === "NoBGPVPNConnection" && routing === "bgp")
    return r.add(
      `${ROOT}/vpn_connection_attributes`,
      "bgp",
      "says NoBGPVPNConnection, but the tunnels carry BGP settings",
    );
  return tunnels.length === 2 ? routing : undefined;
}
