import {
  type Cidr,
  cidrLast,
  cidrsOverlap,
  cidrWithin,
  ipToBigInt,
  parseCidr,
} from "../../../../common/cidr.ts";
import type { IssueSink } from "../../../../common/config-files.ts";
import { quote } from "../../../../common/text.ts";
import {
  CONTAINER_NAME_MAX,
  CONTROLLER_NODE,
  containerName,
  defaultConnectionName,
  INTERNET_NETWORK,
  routerNode,
} from "./names.ts";
import type { ParsedLab } from "./schema.ts";

/**
 * Rules across the fields of a lab topology, on top of the zod output: names, address blocks,
 * pairs and connections. Pure; whether the blocks hold every address is addresses.ts's to say,
 * once these pass.
 */

/** CONVENTIONS: lab networks keep clear of the machine's uplink, mirrors and DNS. */
export const INTERNET_RANGE = "198.18.0.0/15";
const VPC_RANGE = "10.0.0.0/8";
/** VPCs are 10.X.0.0 with X below 250; 10.250-255 is left to the machine (its DNS was there). */
const VPC_RANGE_END = "10.250.0.0";
/** EC2's limits for VPC and subnet blocks, which moto enforces too. */
const PREFIX = { min: 16, max: 28 } as const;

export function verifyLab(parsed: ParsedLab, sink: IssueSink): void {
  checkNames(parsed, sink);
  checkBlocks(parsed, sink);
  const connected = checkConnections(parsed, sink);
  checkVpcNodes(parsed, connected, sink);
}

/** The canonical block of a CIDR the schema already accepted. */
export function block(text: string): Cidr {
  const r = parseCidr(text);
  if (!r.ok) throw new Error(`lab: unchecked CIDR ${text}: ${r.reason}`);
  return r.cidr;
}

/** Names one list may hold once, reported at the later one. */
function uniqueIn(entries: Array<[path: string, name: string]>, what: string, sink: IssueSink) {
  const first = new Map<string, string>();
  for (const [path, name] of entries) {
    const earlier = first.get(name);
    if (earlier === undefined) first.set(name, path);
    else sink.error(path, "duplicate", `${what} ${quote(name)} is already listed at ${earlier}`);
  }
}

/**
 * Every node (appliance, host, VPC router, controller) becomes a container named after it, so
 * node names are unique across the lab and must fit a host name once prefixed.
 */
function checkNames(parsed: ParsedLab, sink: IssueSink): void {
  const taken = new Map<string, string>();
  const claim = (name: string, path: string, what: string) => {
    const earlier = taken.get(name);
    if (earlier !== undefined) {
      sink.error(
        path,
        "duplicate",
        `node name ${quote(name)} is already that of ${earlier}; a node's container is named after it, so names are unique in the lab`,
      );
    } else taken.set(name, what);
    const container = containerName(parsed.name, name);
    if (container.length > CONTAINER_NAME_MAX) {
      sink.error(
        path,
        "name-length",
        `container name ${container} is ${container.length} characters; a host name holds at most ${CONTAINER_NAME_MAX}: shorten the lab's or the node's name`,
      );
    }
  };
  claim(CONTROLLER_NODE, "name", "the lab's controller");
  parsed.vpcs.forEach((v, i) => {
    claim(routerNode(v.name), `vpcs[${i}].name`, `the router of VPC ${v.name}`);
  });
  parsed.vpcs.forEach((v, i) => {
    for (const list of ["appliances", "hosts"] as const) {
      v[list].forEach((n, k) => {
        const at = `vpcs[${i}].${list}[${k}]`;
        claim(n.name, `${at}.name`, at);
      });
    }
    uniqueIn(
      v.subnets.map((s, k) => [`vpcs[${i}].subnets[${k}].name`, s.name]),
      "subnet name",
      sink,
    );
  });
  uniqueIn(
    parsed.vpcs.map((v, i) => [`vpcs[${i}].name`, v.name]),
    "VPC name",
    sink,
  );
  parsed.vpcs.forEach((v, i) => {
    if (v.name === INTERNET_NETWORK) {
      sink.error(
        `vpcs[${i}].name`,
        "reserved",
        `"${INTERNET_NETWORK}" names the lab's internet network; give the VPC another name`,
      );
    }
  });
}

/** IPv4 blocks where the conventions put them, of EC2's sizes, none overlapping another. */
function checkBlocks(parsed: ParsedLab, sink: IssueSink): void {
  const internet = block(parsed.internet.cidr);
  if (!cidrWithin(internet, block(INTERNET_RANGE))) {
    sink.error(
      "internet.cidr",
      "range",
      `${internet.text} is outside ${INTERNET_RANGE}; a lab's internet stays there, clear of the machine's own networks`,
    );
  }
  const vpcs: Array<{ path: string; cidr: Cidr; what: string }> = [
    { path: "internet.cidr", cidr: internet, what: "the internet" },
  ];
  parsed.vpcs.forEach((v, i) => {
    const at = `vpcs[${i}].cidr`;
    const cidr = block(v.cidr);
    const usable = checkPrefix(at, cidr, sink);
    if (usable && !inVpcRange(cidr)) {
      sink.error(
        at,
        "range",
        `${cidr.text} is outside the lab's VPC blocks, 10.X.0.0 with X below 250 (10.0.0.0-10.249.255.255), which keep clear of the machine's own networks`,
      );
    }
    const earlier = vpcs.find((b) => cidrsOverlap(b.cidr, cidr));
    if (earlier !== undefined) {
      sink.error(
        at,
        "overlap",
        `${cidr.text} overlaps ${earlier.path} ${earlier.cidr.text} of ${earlier.what}; every VPC has a block of its own`,
      );
    }
    vpcs.push({ path: at, cidr, what: `VPC ${v.name}` });
    const subnets: Array<{ path: string; cidr: Cidr }> = [];
    v.subnets.forEach((s, k) => {
      const path = `vpcs[${i}].subnets[${k}].cidr`;
      const sub = block(s.cidr);
      if (!checkPrefix(path, sub, sink)) return;
      // Inside a block that is no VPC's would only repeat the VPC's issue.
      if (usable && !cidrWithin(sub, cidr)) {
        sink.error(path, "subnet", `${sub.text} is not inside VPC ${v.name}'s ${cidr.text}`);
      }
      const other = subnets.find((b) => cidrsOverlap(b.cidr, sub));
      if (other !== undefined) {
        sink.error(path, "overlap", `${sub.text} overlaps ${other.path} ${other.cidr.text}`);
      }
      subnets.push({ path, cidr: sub });
    });
  });
}

function checkPrefix(path: string, cidr: Cidr, sink: IssueSink): boolean {
  if (cidr.family !== 4) {
    sink.error(path, "family", `${cidr.text} is IPv6; a lab's networks are IPv4`);
    return false;
  }
  if (cidr.prefix < PREFIX.min || cidr.prefix > PREFIX.max) {
    sink.error(
      path,
      "prefix",
      `${cidr.text} is a /${cidr.prefix}; EC2 takes blocks from /${PREFIX.min} to /${PREFIX.max}`,
    );
    return false;
  }
  return true;
}

function inVpcRange(cidr: Cidr): boolean {
  return cidrWithin(cidr, block(VPC_RANGE)) && cidrLast(cidr) < ipToBigInt(VPC_RANGE_END);
}

/** Returns the VPCs in at least one connection. */
function checkConnections(parsed: ParsedLab, sink: IssueSink): Set<string> {
  const vpcNames = parsed.vpcs.map((v) => v.name);
  const connected = new Set<string>();
  const joined = new Map<string, string>();
  const names: Array<[string, string]> = [];
  parsed.connections.forEach((c, i) => {
    const at = `connections[${i}]`;
    // Named in a connection, even a bad one: its own issue says what is wrong, not "unused".
    for (const v of c.between) if (vpcNames.includes(v)) connected.add(v);
    const [a, b] = c.between;
    if (c.between.length !== 2 || a === undefined || b === undefined) {
      sink.error(
        `${at}.between`,
        "connection",
        `lists ${c.between.length} VPCs; a connection joins two`,
      );
      return;
    }
    const known = c.between.every((v, k) => {
      if (vpcNames.includes(v)) return true;
      sink.error(
        `${at}.between[${k}]`,
        "unknown-ref",
        `unknown VPC ${quote(v)}; defined: ${vpcNames.join(", ")}`,
      );
      return false;
    });
    if (!known) return;
    if (a === b) {
      sink.error(
        `${at}.between[1]`,
        "connection",
        `connects ${a} to itself; a connection joins two VPCs`,
      );
      return;
    }
    // One route per table and destination: two connections between two VPCs would fight over it.
    const key = [a, b].sort().join("\n");
    const earlier = joined.get(key);
    if (earlier !== undefined) {
      sink.error(
        `${at}.between`,
        "connection",
        `joins ${a} and ${b} like ${earlier}; two VPCs have one connection`,
      );
    } else joined.set(key, at);
    const name = c.name ?? defaultConnectionName(a, b);
    if (c.name === undefined && name.length > 63) {
      sink.error(
        at,
        "name-length",
        `its default name ${name} is over 63 characters; give it a name`,
      );
    }
    names.push([c.name === undefined ? at : `${at}.name`, name]);
  });
  uniqueIn(names, "connection name", sink);
  return connected;
}

/** Each VPC's pair, its nodes' subnets, and hosts where traffic must flow. */
function checkVpcNodes(parsed: ParsedLab, connected: Set<string>, sink: IssueSink): void {
  parsed.vpcs.forEach((v, i) => {
    const at = `vpcs[${i}]`;
    const zones = new Map(v.subnets.map((s) => [s.name, s.az]));
    for (const list of ["appliances", "hosts"] as const) {
      v[list].forEach((n, k) => {
        if (zones.has(n.subnet)) return;
        sink.error(
          `${at}.${list}[${k}].subnet`,
          "unknown-ref",
          `unknown subnet ${quote(n.subnet)} of VPC ${v.name}; defined: ${[...zones.keys()].join(", ")}`,
        );
      });
    }
    const n = v.appliances.length;
    if (n !== 2) {
      sink.error(
        `${at}.appliances`,
        "pair-size",
        `has ${n} appliance${n === 1 ? "" : "s"}; a VPC has exactly two, its pair`,
      );
    }
    const [first, second] = v.appliances;
    const [za, zb] = [zones.get(first?.subnet ?? ""), zones.get(second?.subnet ?? "")];
    if (first && second && za !== undefined && za === zb) {
      sink.warn(
        `${at}.appliances[1].subnet`,
        "same-az",
        `${second.name} and ${first.name} are both in zone ${za}; put them in subnets of two zones, so that the pair survives the loss of one`,
      );
    }
    if (v.preferred !== undefined && !v.appliances.some((a) => a.name === v.preferred)) {
      sink.error(
        `${at}.preferred`,
        "preferred",
        `${quote(v.preferred)} is not an appliance of VPC ${v.name} (${v.appliances.map((a) => a.name).join(", ")})`,
      );
    }
    if (!connected.has(v.name)) {
      sink.warn(at, "unused", `VPC ${v.name} is in no connection; no traffic crosses its pair`);
    } else if (v.hosts.length === 0) {
      sink.error(
        `${at}.hosts`,
        "hosts",
        `VPC ${v.name} is in a connection but has no host; give it at least one, to send and answer the lab's traffic`,
      );
    }
  });
}
