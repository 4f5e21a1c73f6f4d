import { SOCKET_PATH_MAX } from "../../../common/agent-api/limits.ts";
import {
  type Cidr,
  cidrContains,
  cidrsOverlap,
  ipFamily,
  ipToBigInt,
  parseCidr,
  sameIp,
} from "../../../common/cidr.ts";
import { checkTlsFiles, type Files, type IssueSink } from "../../../common/config-files.ts";
import { type ConfigIssue, formatPath } from "../../../common/yaml-config.ts";
import { connectionPairs } from "./connections.ts";
import { type ParsedFleet, parseAgentUrl } from "./schema.ts";
import type { AgentEndpoint, Connection, Fleet } from "./types.ts";

/**
 * Rules across fields and lists of the fleet file, on top of the zod output. Pure: what
 * load.ts read of the TLS files comes in as FileFacts. Route tables and swap subnets
 * that belong to another VPC than the one they are listed under cannot be seen from the file;
 * the EC2-backed validate checks that.
 */

export type FleetLoadResult =
  | { ok: true; fleet: Fleet; warnings: ConfigIssue[] }
  | { ok: false; issues: ConfigIssue[]; warnings: ConfigIssue[] };

type Sink = IssueSink;

export function verifyFleet(parsed: ParsedFleet, tlsFiles: Files): FleetLoadResult {
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const sink: Sink = {
    error: (path, rule, message) => issues.push({ path, rule, message }),
    warn: (path, rule, message) => warnings.push({ path, rule, message }),
  };
  checkDuplicates(parsed, sink);
  checkOverlaps(parsed, sink);
  checkAppliances(parsed, sink);
  // The controller's client end passes the checks the agent's server end passes.
  if (parsed.tls) checkTlsFiles("tls", parsed.tls, tlsFiles, sink);
  const pairVpc = checkPairs(parsed, sink);
  checkConnections(parsed, pairVpc, sink);
  checkRouteTables(parsed, pairVpc, sink);
  checkUnused(parsed, sink);
  checkLeases(parsed, sink);
  checkAddresses(parsed, sink);
  if (issues.length > 0) return { ok: false, issues, warnings };
  return { ok: true, fleet: resolve(parsed), warnings };
}

/** Names within each list, and EC2 ids anywhere in the file, appear once. */
function checkDuplicates(parsed: ParsedFleet, sink: Sink): void {
  const { vpcs, appliances, pairs, connections } = parsed;
  const lists: [string, [string, string][]][] = [
    ["VPC name", vpcs.map((v, i) => [`vpcs[${i}].name`, v.name])],
    ["appliance name", appliances.map((a, i) => [`appliances[${i}].name`, a.name])],
    ["pair name", pairs.map((p, i) => [`pairs[${i}].name`, p.name])],
    ["connection name", connections.map((c, i) => [`connections[${i}].name`, c.name])],
    ["VPC id", vpcs.map((v, i) => [`vpcs[${i}].id`, v.id])],
    ["instance", appliances.map((a, i) => [`appliances[${i}].instanceId`, a.instanceId])],
    ["ENI", appliances.map((a, i) => [`appliances[${i}].eni`, a.eni])],
    [
      "route table",
      vpcs.flatMap((v, i) => [
        ...(v.routeTables ?? []).map((r, k): [string, string] => [
          `vpcs[${i}].routeTables[${k}]`,
          r,
        ]),
        ...(v.swap ?? []).flatMap((g, j) =>
          Object.entries(g.tables).map(([m, r]): [string, string] => [swapTablePath(i, j, m), r]),
        ),
      ]),
    ],
    [
      "VPN connection",
      connections.flatMap((c, i) =>
        c.kind === "aws-vpn"
          ? Object.entries(c.vpnConnections).map(([m, id]): [string, string] => [
              formatPath(["connections", i, "vpnConnections", m]),
              id,
            ])
          : [],
      ),
    ],
    [
      "subnet",
      vpcs.flatMap((v, i) =>
        (v.swap ?? []).flatMap((g, j) =>
          g.subnets.map((s, k): [string, string] => [`vpcs[${i}].swap[${j}].subnets[${k}]`, s]),
        ),
      ),
    ],
  ];
  for (const [what, entries] of lists) {
    const first = new Map<string, string>();
    for (const [path, value] of entries) {
      const earlier = first.get(value);
      if (earlier === undefined) first.set(value, path);
      else sink.error(path, "duplicate", `${what} "${value}" is already listed at ${earlier}`);
    }
  }
}

/** Routes are by destination: a block reachable in two VPCs cannot be routed to either. */
function checkOverlaps(parsed: ParsedFleet, sink: Sink): void {
  const blocks = parsed.vpcs.flatMap((v, i) =>
    v.cidrs.map((text, k) => ({ vpc: v.name, path: `vpcs[${i}].cidrs[${k}]`, cidr: cidr(text) })),
  );
  blocks.forEach((b, y) => {
    const a = blocks.slice(0, y).find((a) => cidrsOverlap(a.cidr, b.cidr));
    if (!a) return;
    const where = a.vpc === b.vpc ? "in the same VPC" : `of ${a.vpc}`;
    sink.error(
      b.path,
      "overlap",
      `${b.cidr.text} overlaps ${a.path} ${a.cidr.text} ${where}; VPC address blocks must be disjoint`,
    );
  });
}

function checkAppliances(parsed: ParsedFleet, sink: Sink): void {
  const vpcNames = parsed.vpcs.map((v) => v.name);
  parsed.appliances.forEach((a, i) => {
    const at = `appliances[${i}]`;
    if (!vpcNames.includes(a.vpc)) unknownRef(`${at}.vpc`, "VPC", a.vpc, vpcNames, sink);
    if (a.az !== undefined && !inRegion(a.az, parsed.region)) {
      sink.error(`${at}.az`, "az", `${a.az} is not a zone of region ${parsed.region}`);
    }
    const agent = agentUrl(a.agent);
    if (agent.kind === "unix" && Buffer.byteLength(agent.path) > SOCKET_PATH_MAX) {
      sink.error(
        `${at}.agent`,
        "path-length",
        `socket path ${agent.path} is ${Buffer.byteLength(agent.path)} bytes; Unix sockets allow at most ${SOCKET_PATH_MAX}`,
      );
    }
    if (agent.kind === "https" && parsed.tls === undefined) {
      sink.error(
        `${at}.agent`,
        "tls",
        `${agent.url} is a network agent but the file has no tls section; the controller only talks to network agents with mutual TLS (tls.ca, tls.cert, tls.key)`,
      );
    }
  });
}

/** us-east-1a and the local zone us-east-1-bos-1a are in us-east-1; us-east-10a is not. */
function inRegion(az: string, region: string): boolean {
  const rest = az.slice(region.length);
  return az.startsWith(region) && /^([a-z]|-[a-z0-9-]+)$/.test(rest);
}

/** Returns each pair's VPC, when its first member's is known, for the connection rules. */
function checkPairs(parsed: ParsedFleet, sink: Sink): Map<string, string> {
  const appliances = new Map(parsed.appliances.map((a) => [a.name, a]));
  const vpcNames = new Set(parsed.vpcs.map((v) => v.name));
  const memberOf = new Map<string, string>();
  const pairVpc = new Map<string, string>();
  parsed.pairs.forEach((p, i) => {
    const at = `pairs[${i}]`;
    if (p.members.length !== 2) {
      const n = p.members.length;
      sink.error(
        `${at}.members`,
        "pair-size",
        `has ${n} member${n === 1 ? "" : "s"}; a pair is exactly two appliances`,
      );
    }
    const known = p.members.flatMap((m, k) => {
      const path = `${at}.members[${k}]`;
      const a = appliances.get(m);
      if (!a) {
        unknownRef(path, "appliance", m, [...appliances.keys()], sink);
        return [];
      }
      if (p.members.indexOf(m) < k) {
        sink.error(path, "pair-members", `"${m}" is listed twice; a pair is two appliances`);
        return [];
      }
      const other = memberOf.get(m);
      if (other !== undefined) {
        sink.error(path, "pair-members", `"${m}" is already a member of ${other}`);
      } else memberOf.set(m, `${p.name} (${at})`);
      return [{ path, a }];
    });
    const [first, ...rest] = known;
    // An unknown VPC was reported on its appliance; comparing it would only repeat that.
    if (first && vpcNames.has(first.a.vpc)) pairVpc.set(p.name, first.a.vpc);
    for (const { path, a } of rest) {
      if (first && a.vpc !== first.a.vpc && vpcNames.has(a.vpc) && vpcNames.has(first.a.vpc)) {
        sink.error(
          path,
          "pair-members",
          `"${a.name}" is in ${a.vpc} but "${first.a.name}" is in ${first.a.vpc}; both members of a pair must be in one VPC, since its routes point at either`,
        );
      }
      if (first && a.az !== undefined && a.az === first.a.az) {
        sink.warn(
          path,
          "same-az",
          `"${a.name}" and "${first.a.name}" are both in ${a.az}; the pair does not survive the loss of that zone`,
        );
      }
    }
    if (p.preferred !== undefined && !p.members.includes(p.preferred)) {
      sink.error(
        `${at}.preferred`,
        "preferred",
        `"${p.preferred}" is not a member of this pair (${p.members.join(", ")})`,
      );
    }
  });
  return pairVpc;
}

function checkConnections(parsed: ParsedFleet, pairVpc: Map<string, string>, sink: Sink): void {
  const pairNames = parsed.pairs.map((p) => p.name);
  const joined = new Map<string, string>();
  parsed.connections.forEach((c, i) => {
    const at = `connections[${i}]`;
    if (c.kind === "aws-vpn") {
      checkAwsVpn(parsed, c, i, pairVpc, sink);
      return;
    }
    if (c.between.length !== 2) {
      const n = c.between.length;
      sink.error(
        `${at}.between`,
        "connection",
        `lists ${n} pair${n === 1 ? "" : "s"}; a connection joins exactly two`,
      );
    }
    c.between.forEach((p, k) => {
      if (!pairNames.includes(p)) unknownRef(`${at}.between[${k}]`, "pair", p, pairNames, sink);
    });
    const [left, right] = c.between;
    if (c.between.length !== 2 || left === undefined || right === undefined) return;
    if (left === right) {
      sink.error(`${at}.between[1]`, "connection", `connects ${left} to itself`);
      return;
    }
    const [lv, rv] = [pairVpc.get(left), pairVpc.get(right)];
    if (lv === undefined || rv === undefined) return;
    if (lv === rv) {
      sink.error(
        `${at}.between`,
        "connection",
        `${left} and ${right} are both in ${lv}; a connection joins two VPCs`,
      );
      return;
    }
    // One route per table and destination: two connections between the same VPCs would fight.
    const key = [lv, rv].sort().join("\n");
    const earlier = joined.get(key);
    if (earlier === undefined) joined.set(key, `${at} (${c.name})`);
    else {
      sink.error(
        at,
        "connection",
        `joins ${lv} and ${rv} like ${earlier}; the routes between two VPCs can point at one pair on each side only`,
      );
    }
  });
}

type ParsedAwsVpn = Extract<ParsedFleet["connections"][number], { kind: "aws-vpn" }>;

/**
 * An aws-vpn connection: a known pair, one VPN connection per member, networks behind AWS
 * that are not the pair's own VPC and that no other connection routes in that VPC, whichever
 * pair (one route per table and destination), and a path target among them.
 */
function checkAwsVpn(
  parsed: ParsedFleet,
  c: ParsedAwsVpn,
  i: number,
  pairVpc: Map<string, string>,
  sink: Sink,
): void {
  const at = `connections[${i}]`;
  const pairs = parsed.pairs.map((p) => p.name);
  const pair = parsed.pairs.find((p) => p.name === c.pair);
  if (pair === undefined) {
    unknownRef(`${at}.pair`, "pair", c.pair, pairs, sink);
    return;
  }
  checkMemberKeys(
    c.vpnConnections,
    pair,
    {
      record: `${at}.vpnConnections`,
      key: (m) => formatPath(["connections", i, "vpnConnections", m]),
    },
    {
      rule: "vpn-connections",
      message: (missing) =>
        `has no VPN connection for ${missing.join(", ")}; each member of ${pair.name} is the customer gateway of its own (${pair.members.join(", ")})`,
    },
    sink,
  );
  const remote = c.remoteCidrs.map((text, k) => ({
    at: `${at}.remoteCidrs[${k}]`,
    cidr: cidr(text),
  }));
  const vpc = parsed.vpcs.find((v) => v.name === pairVpc.get(pair.name));
  for (const r of remote) {
    const own = vpc?.cidrs.map(cidr).find((v) => cidrsOverlap(v, r.cidr));
    if (own && vpc)
      sink.error(
        r.at,
        "remote-cidrs",
        `${r.cidr.text} overlaps ${vpc.name}'s own ${own.text}; the networks behind AWS must be outside the pair's VPC`,
      );
  }
  // What every other connection routes in this VPC's tables (those of any pair in it).
  const here = pairVpc.get(pair.name);
  const used = parsed.connections.flatMap((other, j) => {
    if (other === c) return [];
    const sides: Array<[string | undefined, string[]]> =
      other.kind === "aws-vpn"
        ? [[pairVpc.get(other.pair), other.remoteCidrs]]
        : other.between.map((p, k) => [
            pairVpc.get(p),
            vpcCidrs(parsed, pairVpc.get(other.between[1 - k] ?? "")),
          ]);
    return sides.flatMap(([vpc, destinations]) =>
      vpc === here
        ? destinations.map((d) => ({ at: `connections[${j}] (${other.name})`, cidr: cidr(d) }))
        : [],
    );
  });
  for (const r of remote) {
    const clash = used.find((u) => u.cidr.text === r.cidr.text);
    if (clash)
      sink.error(
        r.at,
        "connection",
        `${r.cidr.text} is routed by ${clash.at} too; a route table holds one route per destination, so one connection routes it`,
      );
  }
  if (!remote.some((r) => cidrContains(r.cidr, c.pathTarget))) {
    sink.error(
      `${at}.pathTarget`,
      "path-target",
      `${c.pathTarget} is not inside remoteCidrs (${c.remoteCidrs.join(", ")}); the members' path probe must cross the active member's VPN connection`,
    );
  }
}

function vpcCidrs(parsed: ParsedFleet, vpc: string | undefined): string[] {
  return parsed.vpcs.find((v) => v.name === vpc)?.cidrs ?? [];
}

/** The field path of a swap group's table for `member`, as the loader prints paths. */
export function swapTablePath(vpc: number, group: number, member: string): string {
  return formatPath(["vpcs", vpc, "swap", group, "tables", member]);
}

/**
 * Every VPC lists tables (in place, swap groups or both). Swap groups need exactly one pair in
 * their VPC, in at most one connection: a subnet is associated with one table, which carries
 * the routes of every connection of the VPC, so it can follow one decision only. Their tables
 * are keyed by that pair's members, one each.
 */
function checkRouteTables(parsed: ParsedFleet, pairVpc: Map<string, string>, sink: Sink): void {
  parsed.vpcs.forEach((v, i) => {
    const at = `vpcs[${i}]`;
    if (v.routeTables === undefined && v.swap === undefined) {
      sink.error(
        `${at}.routeTables`,
        "required",
        "is required unless the VPC has swap groups (swap); the fleet would manage no table here",
      );
    }
    if (v.swap === undefined) return;
    const pairs = parsed.pairs.filter((p) => pairVpc.get(p.name) === v.name);
    const [pair, ...others] = pairs;
    if (pair === undefined || others.length > 0) {
      const which =
        pairs.length === 0
          ? "no pair lives"
          : `${pairs.length} pairs (${pairs.map((p) => p.name).join(", ")}) live`;
      sink.error(
        `${at}.swap`,
        "swap-pair",
        `${which} in ${v.name}; swap mode needs exactly one, whose members' tables the subnets move between`,
      );
      return;
    }
    const connections = parsed.connections.filter((c) => connectionPairs(c).includes(pair.name));
    if (connections.length > 1) {
      sink.error(
        `${at}.swap`,
        "swap-pair",
        `${pair.name} is in ${connections.length} connections (${connections.map((c) => c.name).join(", ")}); a subnet's association carries the routes of all of them at once, so it cannot follow each connection's own decision: list this VPC's tables under routeTables (in place), or give ${pair.name} one connection`,
      );
    }
    v.swap.forEach((g, j) => {
      checkMemberKeys(
        g.tables,
        pair,
        { record: `${at}.swap[${j}].tables`, key: (m) => swapTablePath(i, j, m) },
        {
          rule: "swap-tables",
          message: (missing) =>
            `has no table for ${missing.join(", ")}; give one table per member of ${pair.name} (${pair.members.join(", ")})`,
        },
        sink,
      );
    });
  });
}

/** Legal but almost always an oversight: nothing would ever route through these. */
function checkUnused(parsed: ParsedFleet, sink: Sink): void {
  const members = new Set(parsed.pairs.flatMap((p) => p.members));
  const connected = new Set(parsed.connections.flatMap((c) => connectionPairs(c)));
  parsed.appliances.forEach((a, i) => {
    if (!members.has(a.name)) {
      sink.warn(`appliances[${i}]`, "unused", `${a.name} is in no pair; no route will use it`);
    }
  });
  parsed.pairs.forEach((p, i) => {
    if (!connected.has(p.name)) {
      sink.warn(`pairs[${i}]`, "unused", `${p.name} is in no connection; it manages no routes`);
    }
  });
}

/**
 * The keeper renews a lease every ttlMs/3 and the controller acts once per interval: a lease
 * shorter than three intervals would lapse between two ticks of a healthy controller.
 */
function checkLeases(parsed: ParsedFleet, sink: Sink): void {
  const { leases, failover } = parsed;
  if (leases === undefined) return;
  const least = 3 * failover.intervalMs;
  if (leases.ttlMs < least) {
    sink.error(
      "leases.ttlMs",
      "lease-ttl",
      `${leases.ttlMs} ms is less than 3 × failover.intervalMs (3 × ${failover.intervalMs} = ${least} ms); a lease renewed every ttlMs/3 must outlast three controller ticks: raise leases.ttlMs to at least ${least} or lower failover.intervalMs`,
    );
  }
}

/**
 * The appliances' addresses, where given (only rendered agent configs need them): each is an
 * address of its VPC, no two appliances share one, and IKE runs over one family, so every
 * appliance of a connection must use one.
 */
function checkAddresses(parsed: ParsedFleet, sink: Sink): void {
  const vpcs = new Map(parsed.vpcs.map((v) => [v.name, v.cidrs.map(cidr)]));
  const seen = new Map<string, string>();
  const families = new Map<string, number | undefined>();
  parsed.appliances.forEach((a, i) => {
    const { address } = a;
    if (address === undefined) return;
    const at = `appliances[${i}].address`;
    families.set(a.name, ipFamily(address.private));
    checkAddressFields(at, address, vpcs.get(a.vpc), a.vpc, sink);
    // An appliance's public address may be its private one; any other address of the fleet
    // is one appliance's only: a far end at one of ours would be a tunnel to ourselves.
    const own: [string, string][] = [["private", address.private]];
    for (const field of ["public", "pathSource"] as const) {
      const ip = address[field];
      if (ip !== undefined && !sameIp(ip, address.private)) own.push([field, ip]);
    }
    for (const [field, ip] of own) {
      const key = `${ipFamily(ip)}/${ipToBigInt(ip)}`;
      const earlier = seen.get(key);
      if (earlier === undefined) seen.set(key, `${at}.${field}`);
      else sink.error(`${at}.${field}`, "duplicate", `address ${ip} is already used at ${earlier}`);
    }
    checkAgentAddress(a.agent, `appliances[${i}].agent`, address, sink);
  });
  const membersOf = new Map(parsed.pairs.map((p) => [p.name, p.members]));
  parsed.connections.forEach((c, i) => {
    const byFamily = new Map<number, string[]>();
    for (const m of connectionPairs(c).flatMap((p) => membersOf.get(p) ?? [])) {
      const family = families.get(m);
      if (family !== undefined) byFamily.set(family, [...(byFamily.get(family) ?? []), m]);
    }
    if (byFamily.size < 2) return;
    const list = [...byFamily].map(([f, ms]) => `IPv${f} (${ms.join(", ")})`).join(" and ");
    sink.error(
      `connections[${i}]`,
      "family",
      `joins appliances with ${list} addresses; IKE between them runs over one family`,
    );
  });
}

type Address = NonNullable<ParsedFleet["appliances"][number]["address"]>;

/** One appliance's addresses among themselves and against its VPC's blocks (when known). */
function checkAddressFields(
  at: string,
  address: Address,
  blocks: Cidr[] | undefined,
  vpc: string,
  sink: Sink,
): void {
  for (const field of ["private", "pathSource"] as const) {
    const ip = address[field];
    if (ip === undefined || blocks === undefined || blocks.some((c) => cidrContains(c, ip))) {
      continue;
    }
    sink.error(
      `${at}.${field}`,
      "address",
      `${ip} is not inside ${vpc} (${blocks.map((c) => c.text).join(", ")}); it must be an address of the appliance in its VPC`,
    );
  }
  // The tunnel probes leave from private through the appliance's own tunnels; a path probe
  // sent from there would measure those instead of the member the VPC's routes point at.
  if (address.pathSource !== undefined && sameIp(address.pathSource, address.private)) {
    sink.error(
      `${at}.pathSource`,
      "address",
      `${address.pathSource} is also address.private, which the tunnel probes use; a path probe needs an address of its own, routed through the VPC`,
    );
  }
  for (const field of ["public", "pathSource"] as const) {
    const ip = address[field];
    if (ip === undefined || ipFamily(ip) === ipFamily(address.private)) continue;
    sink.error(
      `${at}.${field}`,
      "family",
      `${ip} is IPv${ipFamily(ip)} but address.private is IPv${ipFamily(address.private)}; the tunnels and probes run over one family`,
    );
  }
}

/**
 * A rendered https agent listens on its private address; a URL naming another address of
 * the appliance's (its public one, NATed to the private) is fine, any other address is not
 * the appliance's. A host name cannot be checked here.
 */
function checkAgentAddress(agent: string, path: string, address: Address, sink: Sink): void {
  const url = agentUrl(agent);
  if (url.kind !== "https") return;
  const host = new URL(url.url).hostname.replace(/^\[(.*)\]$/, "$1");
  if (ipFamily(host) === undefined) return;
  const own = [address.private, address.public ?? address.private];
  if (own.some((ip) => sameIp(ip, host))) return;
  sink.warn(
    path,
    "agent-address",
    `${url.url} names ${host}, which is not this appliance's address (${[...new Set(own)].join(", ")}); the agent configs rendered from the fleet listen on the private address`,
  );
}

/** A record keyed by the members of `pair`: no other key (unknown-ref), and every member. */
function checkMemberKeys(
  record: Record<string, unknown>,
  pair: { name: string; members: string[] },
  at: { record: string; key: (member: string) => string },
  missing: { rule: string; message: (members: string[]) => string },
  sink: Sink,
): void {
  for (const member of Object.keys(record)) {
    if (!pair.members.includes(member))
      unknownRef(at.key(member), `member of ${pair.name}`, member, pair.members, sink);
  }
  const absent = pair.members.filter((m) => !(m in record));
  if (absent.length > 0) sink.error(at.record, missing.rule, missing.message(absent));
}

function unknownRef(path: string, what: string, name: string, known: string[], sink: Sink) {
  const list = known.length > 0 ? `defined: ${known.join(", ")}` : "none is defined";
  sink.error(path, "unknown-ref", `unknown ${what} "${name}"; ${list}`);
}

/** Only called once every rule passed, so every reference resolves. */
function resolve(parsed: ParsedFleet): Fleet {
  const vpcOf = new Map(parsed.appliances.map((a) => [a.name, a.vpc]));
  const membersIn = (vpc: string) =>
    must(
      parsed.pairs.find((p) => p.members.some((m) => vpcOf.get(m) === vpc))?.members,
      `the pair of ${vpc}`,
    );
  const { tls } = parsed;
  return {
    region: parsed.region,
    ...(parsed.endpoint !== undefined && { endpoint: parsed.endpoint }),
    tag: parsed.tag,
    vpcs: parsed.vpcs.map((v) => ({
      name: v.name,
      id: v.id,
      cidrs: v.cidrs.map((c) => cidr(c).text),
      routeTables: v.routeTables ?? [],
      ...(v.swap !== undefined && {
        swap: v.swap.map((g) => ({
          subnets: g.subnets,
          // In member order, so that every consumer lists a group's tables alike.
          tables: Object.fromEntries(
            membersIn(v.name).map((m) => [m, must(g.tables[m], `the table of ${m}`)]),
          ),
        })),
      }),
    })),
    appliances: parsed.appliances.map((a) => {
      const url = agentUrl(a.agent);
      const agent: AgentEndpoint =
        url.kind === "unix" ? url : { ...url, tls: must(tls, "tls for an https agent") };
      return {
        name: a.name,
        vpc: a.vpc,
        instanceId: a.instanceId,
        eni: a.eni,
        agent,
        ...(a.az !== undefined && { az: a.az }),
        ...(a.address !== undefined && { address: a.address }),
      };
    }),
    pairs: parsed.pairs.map((p) => {
      const members = two(p.members);
      return {
        name: p.name,
        vpc: must(vpcOf.get(members[0]), `the VPC of ${members[0]}`),
        members,
        preferred: p.preferred ?? members[0],
      };
    }),
    connections: parsed.connections.map((c): Connection => {
      if (c.kind === "site-to-site") return { name: c.name, kind: c.kind, between: two(c.between) };
      const members = must(
        parsed.pairs.find((p) => p.name === c.pair),
        c.pair,
      ).members;
      return {
        name: c.name,
        kind: c.kind,
        pair: c.pair,
        remoteCidrs: c.remoteCidrs.map((text) => cidr(text).text),
        vpnConnections: Object.fromEntries(
          members.map((m) => [m, must(c.vpnConnections[m], `the VPN connection of ${m}`)]),
        ),
        pathTarget: c.pathTarget,
      };
    }),
    failover: parsed.failover,
    ...(parsed.leases !== undefined && {
      leases: {
        table: parsed.leases.table,
        ttlMs: parsed.leases.ttlMs,
        ...(parsed.leases.endpoint !== undefined && { endpoint: parsed.leases.endpoint }),
      },
    }),
    ...(parsed.agents !== undefined && { agents: parsed.agents }),
    ...(parsed.keys !== undefined && { keys: parsed.keys }),
  };
}

// The schema and the rules above proved these; failing here is a bug, not bad input.

function cidr(text: string): Cidr {
  const r = parseCidr(text);
  if (!r.ok) throw new Error(`verifyFleet: unchecked CIDR ${text}: ${r.reason}`);
  return r.cidr;
}

function agentUrl(text: string) {
  const r = parseAgentUrl(text);
  if (!r.ok) throw new Error(`verifyFleet: unchecked agent URL ${text}: ${r.reason}`);
  return r.agent;
}

function two(list: string[]): [string, string] {
  const [a, b] = list;
  if (list.length !== 2 || a === undefined || b === undefined) {
    throw new Error(`verifyFleet: expected two names, got ${list.join(", ")}`);
  }
  return [a, b];
}

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`verifyFleet: ${what} is missing`);
  return value;
}
