import { execFileSync } from "node:child_process";
import { createNetns, deleteNetns } from "./netns.ts";

/**
 * Appliances in network namespaces on one "internet": a bridge in a namespace of its own and
 * one veth per appliance. As on EC2, an appliance's private address is its own (on lo, where
 * charon and its agent bind) and its public address is 1:1 NAT in front of it, as the
 * internet gateway does for an Elastic IP, so IKE runs through NAT-T with the public address
 * as identity. Nothing is added to the root namespace (servers the test runs there are reached
 * with ns-bridge.ts).
 */
export interface MeshNode {
  name: string;
  /** Its Elastic IP: on its veth, /24 with every other node's. */
  public: string;
  /** Its VPC-side address. */
  private: string;
}

function ip(...args: string[]) {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

function iptables(ns: string, ...args: string[]) {
  execFileSync("ip", ["netns", "exec", ns, "iptables", "-t", "nat", "-A", ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
}

export interface MeshLab {
  ns(node: string): string;
  cleanup(): void;
}

export function createMeshLab(prefix: string, nodes: MeshNode[]): MeshLab {
  const net = `${prefix}-net`;
  const ns = (node: string) => `${prefix}-${node}`;
  const made: string[] = [];
  const cleanup = () => {
    for (const name of made.reverse()) deleteNetns(name);
  };
  try {
    createNetns(net);
    made.push(net);
    ip("-n", net, "link", "add", "br0", "type", "bridge");
    ip("-n", net, "link", "set", "br0", "up");
    nodes.forEach((node, i) => {
      const here = ns(node.name);
      createNetns(here);
      made.push(here);
      const port = `p${i}`;
      ip("link", "add", "eth0", "netns", here, "type", "veth", "peer", "name", port, "netns", net);
      ip("-n", net, "link", "set", port, "master", "br0", "up");
      ip("-n", here, "addr", "add", `${node.public}/24`, "dev", "eth0");
      ip("-n", here, "link", "set", "eth0", "up");
      ip("-n", here, "addr", "add", `${node.private}/32`, "dev", "lo");
      iptables(
        here,
        "POSTROUTING",
        "-o",
        "eth0",
        "-s",
        node.private,
        "-j",
        "SNAT",
        "--to-source",
        node.public,
      );
      iptables(
        here,
        "PREROUTING",
        "-i",
        "eth0",
        "-d",
        node.public,
        "-j",
        "DNAT",
        "--to-destination",
        node.private,
      );
    });
  } catch (error) {
    cleanup();
    throw error;
  }
  return { ns, cleanup };
}
