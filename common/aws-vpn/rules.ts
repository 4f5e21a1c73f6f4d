import { cidrContains, ipFamily, parseCidr } from "../cidr.ts";
import { quote } from "../text.ts";

/**
 * AWS's rules for one tunnel of a Site-to-Site VPN connection, each a pure check that returns
 * the problem as text, or undefined when the value is fine. Sources (AWS Site-to-Site VPN User
 * Guide and EC2 API Reference):
 * - "Tunnel options for your AWS Site-to-Site VPN connection" (VPNTunnels.html): PSK, inside
 *   CIDR and its reserved blocks, the algorithm and DH group sets, lifetimes, DPD timeout, IKE
 *   versions; "each tunnel using a unique public IP address".
 * - "Requirements for an AWS Site-to-Site VPN customer gateway device" (CGRequirements.html):
 *   IKEv1 main mode or IKEv2, one SA pair per tunnel, ESP in tunnel mode.
 * - EC2 API Reference, VpnTunnelOptionsSpecification: the valid values repeated per field.
 * The names are the API's (AES128, SHA2-256, ikev2); from-xml.ts maps the XML's names to them.
 */

export type Problem = string | undefined;

/** "AWS accepts ..." lists a set in the message, so an error says what would have worked. */
function oneOf<T extends string | number>(value: T, allowed: readonly T[], what: string): Problem {
  if (allowed.includes(value)) return undefined;
  const shown = typeof value === "string" ? quote(value) : String(value);
  return `${what} ${shown} is not one AWS accepts (${allowed.join(", ")})`;
}

function inRange(value: number, min: number, max: number, what: string): Problem {
  if (Number.isInteger(value) && value >= min && value <= max) return undefined;
  return `${what} ${value} is outside ${min}-${max}, the range AWS accepts`;
}

export const IKE_VERSIONS = ["ikev1", "ikev2"] as const;
export type IkeVersion = (typeof IKE_VERSIONS)[number];

export const ENCRYPTION_ALGORITHMS = [
  "AES128",
  "AES256",
  "AES128-GCM-16",
  "AES256-GCM-16",
] as const;
export type EncryptionAlgorithm = (typeof ENCRYPTION_ALGORITHMS)[number];

export const INTEGRITY_ALGORITHMS = ["SHA1", "SHA2-256", "SHA2-384", "SHA2-512"] as const;
export type IntegrityAlgorithm = (typeof INTEGRITY_ALGORITHMS)[number];

export const PHASE1_DH_GROUPS = [2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24] as const;
/** Phase 2 (PFS) also takes group 5, which phase 1 does not. */
export const PHASE2_DH_GROUPS = [2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24] as const;

export const PHASE1_LIFETIME = { min: 900, max: 28_800 } as const;
export const PHASE2_LIFETIME = { min: 900, max: 3_600 } as const;
export const DPD_TIMEOUT_MIN_S = 30;

/** The /30s inside 169.254.0.0/16 that AWS keeps for itself. */
export const RESERVED_INSIDE_CIDRS = [
  "169.254.0.0/30",
  "169.254.1.0/30",
  "169.254.2.0/30",
  "169.254.3.0/30",
  "169.254.4.0/30",
  "169.254.5.0/30",
  "169.254.169.252/30",
] as const;

const LINK_LOCAL = parseCidr("169.254.0.0/16");

/** 8-64 characters of letters, digits, "." and "_", not starting with "0". Never echoes the key. */
export function pskProblem(psk: string): Problem {
  if (psk.length < 8 || psk.length > 64)
    return `the pre-shared key is ${psk.length} characters long; AWS requires 8 to 64`;
  const bad = [...psk].findIndex((c) => !/^[A-Za-z0-9._]$/.test(c));
  if (bad >= 0)
    return `the pre-shared key has a character AWS does not allow at position ${bad + 1}; only letters, digits, "." and "_" are allowed`;
  if (psk.startsWith("0")) return `the pre-shared key starts with "0", which AWS does not allow`;
  return undefined;
}

/** A /30 inside 169.254.0.0/16, not one of the blocks AWS reserves. */
export function insideCidrProblem(text: string): Problem {
  const parsed = parseCidr(text);
  if (!parsed.ok) return `invalid inside CIDR ${quote(text)}: ${parsed.reason}`;
  const { cidr } = parsed;
  if (cidr.family !== 4 || cidr.prefix !== 30)
    return `inside CIDR ${quote(text)} must be a /30 (AWS gives each tunnel a /30 of IPv4 addresses)`;
  if (!LINK_LOCAL.ok || !cidrContains(LINK_LOCAL.cidr, text.slice(0, text.indexOf("/"))))
    return `inside CIDR ${quote(text)} is not inside 169.254.0.0/16`;
  if ((RESERVED_INSIDE_CIDRS as readonly string[]).includes(cidr.text))
    return `inside CIDR ${quote(text)} is reserved by AWS (${RESERVED_INSIDE_CIDRS.join(", ")})`;
  return undefined;
}

/**
 * The two inside addresses: distinct host addresses of the /30 (AWS gives its side the first
 * and the customer gateway the second, but either order is a working pair).
 */
export function insideAddressesProblem(cidr: string, local: string, remote: string): Problem {
  const parsed = parseCidr(cidr);
  if (!parsed.ok) return `invalid inside CIDR ${quote(cidr)}: ${parsed.reason}`;
  for (const address of [local, remote]) {
    if (ipFamily(address) !== 4) return `inside address ${quote(address)} is not an IPv4 address`;
    if (!cidrContains(parsed.cidr, address))
      return `inside address ${address} is not in the tunnel's inside CIDR ${parsed.cidr.text}`;
    const last = Number(address.split(".")[3]) & 3;
    if (last === 0 || last === 3)
      return `inside address ${address} is the network or broadcast address of ${parsed.cidr.text}`;
  }
  if (local === remote) return `both ends have the same inside address ${local}`;
  return undefined;
}

export function ikeVersionProblem(version: string): Problem {
  return oneOf(version, IKE_VERSIONS, "IKE version");
}

/** IKEv1 must use main mode: AWS refuses aggressive mode. */
export function ikeModeProblem(mode: string): Problem {
  if (mode === "main") return undefined;
  return `IKE phase 1 mode ${quote(mode)} is not accepted: AWS supports IKEv1 main mode only`;
}

export function encryptionProblem(algorithm: string): Problem {
  return oneOf(algorithm, ENCRYPTION_ALGORITHMS, "encryption algorithm");
}

export function integrityProblem(algorithm: string): Problem {
  return oneOf(algorithm, INTEGRITY_ALGORITHMS, "integrity algorithm");
}

export function phase1DhGroupProblem(group: number): Problem {
  return oneOf(group, PHASE1_DH_GROUPS, "phase 1 Diffie-Hellman group");
}

export function phase2DhGroupProblem(group: number): Problem {
  return oneOf(group, PHASE2_DH_GROUPS, "phase 2 Diffie-Hellman group");
}

export function phase1LifetimeProblem(seconds: number): Problem {
  return inRange(seconds, PHASE1_LIFETIME.min, PHASE1_LIFETIME.max, "phase 1 lifetime (s)");
}

/** AWS also wants phase 2 shorter than phase 1. */
export function phase2LifetimeProblem(seconds: number, phase1Seconds?: number): Problem {
  const range = inRange(seconds, PHASE2_LIFETIME.min, PHASE2_LIFETIME.max, "phase 2 lifetime (s)");
  if (range) return range;
  if (phase1Seconds !== undefined && seconds >= phase1Seconds)
    return `phase 2 lifetime ${seconds} s must be less than the phase 1 lifetime ${phase1Seconds} s`;
  return undefined;
}

export function dpdTimeoutProblem(seconds: number): Problem {
  if (Number.isInteger(seconds) && seconds >= DPD_TIMEOUT_MIN_S) return undefined;
  return `DPD timeout ${seconds} s is below ${DPD_TIMEOUT_MIN_S} s, the least AWS accepts`;
}

/** A 2- or 4-byte BGP ASN (RFC 6793); 0 and 4294967295 are reserved (RFC 7607, RFC 7300). */
export function asnProblem(asn: number): Problem {
  if (Number.isInteger(asn) && asn >= 1 && asn <= 4_294_967_294) return undefined;
  return `BGP ASN ${asn} is not an AS number (1-4294967294)`;
}

/** RFC 4271: 0 (no keepalives) or 3 s and more. AWS sends 30. */
export function holdTimeProblem(seconds: number): Problem {
  if (seconds === 0 || (Number.isInteger(seconds) && seconds >= 3 && seconds <= 65_535))
    return undefined;
  return `BGP hold time ${seconds} s must be 0 or 3-65535 s`;
}
