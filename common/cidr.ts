import { isIPv4, isIPv6 } from "node:net";
import { quote } from "./text.ts";

export type Family = 4 | 6;

export interface Cidr {
  readonly family: Family;
  /** Network address as an integer (host bits are zero). */
  readonly network: bigint;
  readonly prefix: number;
  /** Canonical text, e.g. "10.1.0.0/16". */
  readonly text: string;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

/**
 * 4 or 6 for an address, undefined for anything else. An IPv6 zone index ("fe80::1%eth0") is
 * not part of an address in a config: Node accepts it, nothing downstream does.
 */
export function ipFamily(text: string): Family | undefined {
  if (isIPv4(text)) return 4;
  if (isIPv6(text) && !text.includes("%")) return 6;
  return undefined;
}

/** Why `text` is not an address, quoting it, e.g. `"10.1.0.300" is not an IPv4 address`. */
export function ipProblem(text: string): string | undefined {
  if (ipFamily(text) !== undefined) return undefined;
  const zone = text.indexOf("%");
  if (zone >= 0 && isIPv6(text))
    return `${quote(text)} has a zone id (${quote(text.slice(zone))}): write the IPv6 address without it`;
  const kind = text.includes(":") ? "IPv6" : /^[\d.]+$/.test(text) ? "IPv4" : "IPv4 or IPv6";
  return `${quote(text)} is not an ${kind} address`;
}

// JSON Schema patterns (ECMA-262) that accept exactly what ipFamily and parseCidr accept,
// short of a CIDR's host bits, so that an editor refuses what the loaders refuse.
const OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const V4 = `${OCTET}(?:\\.${OCTET}){3}`;
const SEG = "[0-9a-fA-F]{1,4}";
/** The grammar of Node's isIPv6, without the zone index. */
const V6 = `(?:${[
  `(?:${SEG}:){7}(?:${SEG}|:)`,
  `(?:${SEG}:){6}(?:${V4}|:${SEG}|:)`,
  `(?:${SEG}:){5}(?::${V4}|(?::${SEG}){1,2}|:)`,
  `(?:${SEG}:){4}(?:(?::${SEG}){0,1}:${V4}|(?::${SEG}){1,3}|:)`,
  `(?:${SEG}:){3}(?:(?::${SEG}){0,2}:${V4}|(?::${SEG}){1,4}|:)`,
  `(?:${SEG}:){2}(?:(?::${SEG}){0,3}:${V4}|(?::${SEG}){1,5}|:)`,
  `(?:${SEG}:){1}(?:(?::${SEG}){0,4}:${V4}|(?::${SEG}){1,6}|:)`,
  `(?::(?:(?::${SEG}){0,5}:${V4}|(?::${SEG}){1,7}|:))`,
].join("|")})`;
/** parseCidr reads a prefix of one to three digits: 0-32 for IPv4 ("08" too), 0-128 for IPv6. */
const V4_PREFIX = "(?:0?0?[0-9]|0?[12][0-9]|0?3[0-2])";
const V6_PREFIX = "(?:0?[0-9]?[0-9]|1[01][0-9]|12[0-8])";

export const IP_PATTERN = `^(?:${V4}|${V6})$`;
export const CIDR_PATTERN = `^(?:${V4}/${V4_PREFIX}|${V6}/${V6_PREFIX})$`;

/** Throws for anything ipFamily refuses: a zone id would otherwise end in BigInt(NaN). */
export function ipToBigInt(text: string): bigint {
  const family = ipFamily(text);
  if (family === undefined) throw new Error(`not an IP address: ${text}`);
  if (family === 4) {
    return text.split(".").reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
  }
  let value = text;
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(value);
  if (v4tail?.[1]) {
    const n = ipToBigInt(v4tail[1]);
    value = `${value.slice(0, -v4tail[1].length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = "", tail] = value.split("::");
  const headParts = head ? head.split(":") : [];
  const tailParts = tail ? tail.split(":") : [];
  const zeros = tail === undefined ? [] : Array(8 - headParts.length - tailParts.length).fill("0");
  return [...headParts, ...zeros, ...tailParts].reduce(
    (acc, group) => (acc << 16n) | BigInt(Number.parseInt(group, 16)),
    0n,
  );
}

export function bigIntToIp(value: bigint, family: Family): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => ((value >> s) & 0xffn).toString()).join(".");
  }
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((value >> s) & 0xffffn).toString(16));
  // Compress the longest run of zero groups, as RFC 5952 asks.
  let best = { start: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > best.len && j - i > 1) best = { start: i, len: j - i };
    i = j;
  }
  if (best.start < 0) return groups.join(":");
  const left = groups.slice(0, best.start).join(":");
  const right = groups.slice(best.start + best.len).join(":");
  return `${left}::${right}`;
}

export type CidrResult = { ok: true; cidr: Cidr } | { ok: false; reason: string };

/** Parses "a.b.c.d/n" or "x::/n". Host bits must be zero, so typos are caught early. */
export function parseCidr(text: string): CidrResult {
  const slash = text.indexOf("/");
  if (slash < 0) return { ok: false, reason: "must be address/prefix, e.g. 10.1.0.0/16" };
  const addr = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const family = ipFamily(addr);
  if (!family) return { ok: false, reason: ipProblem(addr) ?? "not an address" };
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > BITS[family]) {
    return { ok: false, reason: `prefix length must be 0-${BITS[family]}` };
  }
  const prefix = Number(prefixText);
  const value = ipToBigInt(addr);
  const network = value & mask(family, prefix);
  if (network !== value) {
    const fixed = `${bigIntToIp(network, family)}/${prefix}`;
    return { ok: false, reason: `host bits are set; did you mean ${fixed}?` };
  }
  return {
    ok: true,
    cidr: { family, network, prefix, text: `${bigIntToIp(network, family)}/${prefix}` },
  };
}

function mask(family: Family, prefix: number): bigint {
  const bits = BITS[family];
  return ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n);
}

/** The last address of the block, as an integer. */
export function cidrLast(c: Cidr): bigint {
  return c.network | ((1n << BigInt(BITS[c.family] - c.prefix)) - 1n);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const shorter = Math.min(a.prefix, b.prefix);
  const m = mask(a.family, shorter);
  return (a.network & m) === (b.network & m);
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  const family = ipFamily(ip);
  if (family !== cidr.family) return false;
  return (ipToBigInt(ip) & mask(family, cidr.prefix)) === cidr.network;
}

/** One address, however it is written (IPv6 has many spellings). */
export function sameIp(a: string, b: string): boolean {
  return ipFamily(a) === ipFamily(b) && ipToBigInt(a) === ipToBigInt(b);
}

/** Every address of `inner` is in `outer`. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && cidrsOverlap(inner, outer);
}
