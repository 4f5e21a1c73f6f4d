import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { LinuxRoute, SubnetRoutes } from "./desired.ts";

/** The VPC router's side of Linux: `ip` and `iptables` inside its container. */

const run = promisify(execFile);

export async function sh(cmd: string, args: string[]): Promise<string> {
  const { stdout } = await run(cmd, args);
  return stdout;
}

interface IpAddr {
  ifname: string;
  addr_info: Array<{ family: string; local: string; prefixlen: number }>;
}

/** The interface holding `address`, and that address's prefix length. */
export async function interfaceWith(address: string): Promise<{ dev: string; prefixlen: number }> {
  const links = JSON.parse(await sh("ip", ["-j", "addr", "show"])) as IpAddr[];
  for (const l of links) {
    const a = l.addr_info.find((x) => x.local === address);
    if (a !== undefined) return { dev: l.ifname, prefixlen: a.prefixlen };
  }
  throw new Error(`no interface holds ${address}`);
}

export interface Devices {
  vpc: string;
  internet: string;
}

function routeArgs(r: LinuxRoute, dev: Devices): string[] {
  switch (r.kind) {
    case "vpc":
      return [r.dst, "dev", dev.vpc];
    case "internet":
      return [r.dst, "dev", dev.internet];
    case "via":
      return [r.dst, "via", r.via, "dev", dev.vpc];
    case "blackhole":
      return ["blackhole", r.dst];
    case "unreachable":
      return ["unreachable", r.dst];
  }
}

/** Packets from the subnet that come in on the VPC side use its table. */
export async function bindSubnet(s: SubnetRoutes, dev: Devices): Promise<void> {
  await run("ip", ["rule", "del", "pref", String(s.table)]).catch(() => undefined);
  await sh("ip", [
    ...["rule", "add", "pref", String(s.table), "from", s.cidr, "iif", dev.vpc],
    ...["lookup", String(s.table)],
  ]);
}

/** Makes the table hold exactly `routes` (replace is idempotent; stale ones are deleted). */
export async function writeTable(
  table: number,
  routes: LinuxRoute[],
  stale: string[],
  dev: Devices,
): Promise<void> {
  for (const r of routes) {
    await sh("ip", ["route", "replace", ...routeArgs(r, dev), "table", String(table)]);
  }
  for (const dst of stale) {
    await run("ip", ["route", "del", dst, "table", String(table)]).catch(() => undefined);
  }
}

export async function flushTable(table: number): Promise<void> {
  await run("ip", ["route", "flush", "table", String(table)]).catch(() => undefined);
}
