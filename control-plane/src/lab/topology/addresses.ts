import { bigIntToIp, type Cidr, cidrLast } from "../../../../common/cidr.ts";
import type { IssueSink } from "../../../../common/config-files.ts";
import { count } from "../../../../common/text.ts";
import type { ParsedLab } from "./schema.ts";
import { block } from "./verify.ts";

/**
 * Every address of a lab, derived from its blocks and the order of its file, so that the file
 * names none (docs/lab-topology.md, "Addresses"):
 *
 * - on each network the machine (the Docker bridge) takes the last usable address;
 * - in each subnet the VPC router takes the first host address (its gateway, as on EC2), and
 *   the nodes take addresses from the 10th on, in file order: each appliance two (its own, then
 *   its path source), then each host one;
 * - the central controller takes the address below the machine's on each VPC network;
 * - on the internet, VPC router n takes host address 1+n, the controller the 50th, and the
 *   Elastic IPs go from the 100th on, in file order.
 */

export const FIRST_NODE_OFFSET = 10n;
const INTERNET = { routersFrom: 1n, controller: 50n, elasticIpsFrom: 100n } as const;

export interface NodeAddresses {
  address: string;
  /** Appliances only. */
  pathSource?: string;
}

export interface VpcAddresses {
  host: string;
  /** The central controller's; absent when the controller is co-located. */
  controller?: string;
  gateways: Map<string, string>;
  nodes: Map<string, NodeAddresses>;
}

export interface LabAddresses {
  internet: {
    host: string;
    controller: string;
    routers: Map<string, string>;
    elasticIps: Map<string, string>;
  };
  vpcs: Map<string, VpcAddresses>;
}

const at = (cidr: Cidr, offset: bigint) => bigIntToIp(cidr.network + offset, 4);
/** The broadcast address is no host's; EC2 reserves it too. */
const lastUsable = (cidr: Cidr) => cidrLast(cidr) - cidr.network - 1n;

/**
 * The addresses, or issues (rule `capacity`) where a block is too small for what the file puts
 * in it. Runs on a file verifyLab passed.
 */
export function allocateAddresses(parsed: ParsedLab, sink: IssueSink): LabAddresses | undefined {
  let ok = true;
  const full = (path: string, message: string) => {
    sink.error(path, "capacity", message);
    ok = false;
  };
  const central = parsed.controller.mode === "central";
  const vpcs = new Map<string, VpcAddresses>();
  parsed.vpcs.forEach((v, i) => {
    const found = vpcAddresses(parsed, i, central, full);
    if (found) vpcs.set(v.name, found);
  });

  const internet = block(parsed.internet.cidr);
  const appliances = parsed.vpcs.flatMap((v) => v.appliances.map((a) => a.name));
  const top = lastUsable(internet);
  const lastEip = INTERNET.elasticIpsFrom + BigInt(appliances.length) - 1n;
  if (lastEip >= top) {
    full(
      "internet.cidr",
      `${internet.text} is too small: the Elastic IPs of ${count(appliances.length, "appliance")} go from its ${INTERNET.elasticIpsFrom}th address to ${at(internet, lastEip)}, which must stay below the machine's ${at(internet, top)} (its last usable address); use a larger block`,
    );
  }
  if (BigInt(parsed.vpcs.length) >= INTERNET.controller) {
    full(
      "vpcs",
      `${parsed.vpcs.length} VPCs: their routers take the internet's addresses 1 to ${INTERNET.controller - 1n}, so a lab has at most ${INTERNET.controller - 1n} VPCs`,
    );
  }
  if (!ok) return undefined;
  return {
    internet: {
      host: at(internet, top),
      controller: at(internet, INTERNET.controller),
      routers: new Map(
        parsed.vpcs.map((v, n) => [v.name, at(internet, INTERNET.routersFrom + BigInt(n))]),
      ),
      elasticIps: new Map(
        appliances.map((a, n) => [a, at(internet, INTERNET.elasticIpsFrom + BigInt(n))]),
      ),
    },
    vpcs,
  };
}

function vpcAddresses(
  parsed: ParsedLab,
  i: number,
  central: boolean,
  full: (path: string, message: string) => void,
): VpcAddresses | undefined {
  const v = parsed.vpcs[i];
  if (v === undefined) throw new Error(`lab: no vpcs[${i}]`);
  const cidr = block(v.cidr);
  const host = lastUsable(cidr);
  // The machine's and the controller's addresses are outside the subnets' counters, so that
  // adding a node never moves them; a subnet at the end of the block may still reach them.
  const taken = new Map<string, string>([[at(cidr, host), "the machine's"]]);
  if (central) taken.set(at(cidr, host - 1n), "the controller's");
  const gateways = new Map<string, string>();
  const nodes = new Map<string, NodeAddresses>();
  let ok = true;
  const refuse = (path: string, message: string) => {
    full(path, message);
    ok = false;
  };
  v.subnets.forEach((s, k) => {
    const sub = block(s.cidr);
    gateways.set(s.name, at(sub, 1n));
    const wants = [
      ...v.appliances.filter((a) => a.subnet === s.name).map((a) => ({ name: a.name, n: 2 })),
      ...v.hosts.filter((h) => h.subnet === s.name).map((h) => ({ name: h.name, n: 1 })),
    ];
    const needed = wants.reduce((sum, w) => sum + w.n, 0);
    const last = FIRST_NODE_OFFSET + BigInt(needed) - 1n;
    const path = `vpcs[${i}].subnets[${k}].cidr`;
    if (needed > 0 && last > lastUsable(sub)) {
      refuse(
        path,
        `${sub.text} is too small: its nodes need ${needed} addresses from ${at(sub, FIRST_NODE_OFFSET)} (two per appliance, one per host), up to ${at(sub, last)}, past its last usable ${at(sub, lastUsable(sub))}`,
      );
      return;
    }
    let next = FIRST_NODE_OFFSET;
    for (const w of wants) {
      const mine = Array.from({ length: w.n }, (_, j) => at(sub, next + BigInt(j)));
      next += BigInt(w.n);
      for (const ip of mine) {
        const other = taken.get(ip);
        if (other !== undefined) {
          refuse(
            path,
            `${w.name} would take ${ip}, which is ${other} on VPC ${v.name}'s network; leave the end of ${cidr.text} out of the subnets`,
          );
        }
      }
      const [address = "", pathSource] = mine;
      nodes.set(w.name, { address, ...(pathSource !== undefined && { pathSource }) });
    }
  });
  if (!ok) return undefined;
  return {
    host: at(cidr, host),
    ...(central && { controller: at(cidr, host - 1n) }),
    gateways,
    nodes,
  };
}
