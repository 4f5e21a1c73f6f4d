import { sh } from "./linux.ts";

/**
 * The internet gateway, as EC2's does it: each Elastic IP is 1:1 NAT to its appliance's private
 * address; nothing else of the VPC reaches the internet or is reached from it. The router
 * also sends no ICMP redirects: a host told to go straight to an appliance would keep doing
 * so after the route table moved.
 */

export interface ElasticIp {
  private: string;
  public: string;
}

export async function setUpGateway(
  dev: { vpc: string; internet: string },
  eips: ElasticIp[],
): Promise<void> {
  const ipt = (...args: string[]) => sh("iptables", ["-w", ...args]);
  await ipt("-A", "OUTPUT", "-p", "icmp", "--icmp-type", "redirect", "-j", "DROP");
  // The rules first, the addresses last: the router receives an Elastic IP's packets only once
  // it holds the address, and by then the DNAT rule is there for the first packet of each flow.
  // A packet that came earlier would leave a conntrack entry without NAT, and charon's
  // retransmissions (the gaps stay under the 30 s UDP timeout) would keep it for minutes.
  for (const e of eips) {
    await ipt(
      "-t",
      "nat",
      "-A",
      "PREROUTING",
      "-i",
      dev.internet,
      "-d",
      e.public,
      "-j",
      "DNAT",
      "--to-destination",
      e.private,
    );
    await ipt(
      "-t",
      "nat",
      "-A",
      "POSTROUTING",
      "-o",
      dev.internet,
      "-s",
      e.private,
      "-j",
      "SNAT",
      "--to-source",
      e.public,
    );
    await ipt("-A", "FORWARD", "-o", dev.internet, "-s", e.private, "-j", "ACCEPT");
    await ipt("-A", "FORWARD", "-i", dev.internet, "-d", e.private, "-j", "ACCEPT");
  }
  await ipt("-A", "FORWARD", "-o", dev.internet, "-j", "DROP");
  await ipt("-A", "FORWARD", "-i", dev.internet, "-j", "DROP");
  for (const e of eips) await sh("ip", ["addr", "add", `${e.public}/32`, "dev", dev.internet]);
}
