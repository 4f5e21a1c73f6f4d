import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { type Datapath, ipCommands, SWANPAIR_ROUTE_PROTO } from "./plan.ts";

/**
 * Makes the host's links, addresses and routes match a Datapath with `ip` (iproute2), and
 * removes the routes the agent made earlier that are no longer wanted. Every step is tried;
 * the failures come back as text (ipsec0 exists only once charon runs: the next resync
 * completes what failed).
 */

export type IpRunner = (args: string[]) => Promise<string>;

const run = promisify(execFile);
export const runIp: IpRunner = async (args) => (await run("ip", args, { timeout: 5000 })).stdout;

interface ShownRoute {
  dst: string;
  table?: string;
  type?: string;
}

interface ShownAddress {
  ifname: string;
  addr_info?: Array<{ local: string }>;
}

export async function applyDatapath(
  d: Datapath,
  localAddress: string,
  ip: IpRunner = runIp,
): Promise<string[]> {
  const failures: string[] = [];
  const attempt = async (args: string[]) => {
    try {
      await ip(args);
    } catch (error) {
      failures.push(`ip ${args.join(" ")}: ${firstLine(error)}`);
    }
  };
  const parent = d.links.length > 0 ? await deviceOf(localAddress, ip) : "lo";
  const existing = d.links.length > 0 ? await linkNames(ip) : new Set<string>();
  for (const args of ipCommands(d, parent)) {
    // `link add` is the one command that is not idempotent.
    if (args[0] === "link" && args[1] === "add" && existing.has(args[2] as string)) continue;
    await attempt(args);
  }
  const wanted = new Set(d.routes.map((r) => `${r.table}|${r.dst}`));
  for (const r of await ownRoutes(ip)) {
    const table = r.table ?? "main";
    if (wanted.has(`${table}|${r.dst}`)) continue;
    await attempt([
      "route",
      "del",
      ...(r.type === "throw" ? ["throw"] : []),
      r.dst,
      "table",
      table,
    ]);
  }
  return failures;
}

async function ownRoutes(ip: IpRunner): Promise<ShownRoute[]> {
  const text = await ip([
    "-j",
    "route",
    "show",
    "table",
    "all",
    "proto",
    String(SWANPAIR_ROUTE_PROTO),
  ]);
  return text.trim() === "" ? [] : (JSON.parse(text) as ShownRoute[]);
}

async function linkNames(ip: IpRunner): Promise<Set<string>> {
  const shown = JSON.parse(await ip(["-j", "link", "show"])) as Array<{ ifname: string }>;
  return new Set(shown.map((l) => l.ifname));
}

/** XFRM interfaces hang off the device that holds the address IKE uses. */
async function deviceOf(address: string, ip: IpRunner): Promise<string> {
  const shown = JSON.parse(await ip(["-j", "address", "show"])) as ShownAddress[];
  const dev = shown.find((d) => d.addr_info?.some((a) => a.local === address));
  return dev?.ifname ?? "lo";
}

function firstLine(error: unknown): string {
  const e = error as { stderr?: string; message?: string };
  return (e.stderr || e.message || String(error)).trim().split("\n")[0] ?? "";
}
