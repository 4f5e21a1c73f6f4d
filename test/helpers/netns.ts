import { type ChildProcess, execFileSync, type SpawnOptions, spawn } from "node:child_process";

/**
 * Network namespaces for tests. Every name carries the "swp-" prefix so leftovers can be
 * found and removed (`ip netns list | grep ^swp-`). Addresses inside a namespace never
 * reach the host's routes, so any range is safe there.
 */
export const NETNS_PREFIX = "swp-";

function ip(...args: string[]) {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

export function nsExec(ns: string, cmd: string, args: string[], input?: string): string {
  return execFileSync("ip", ["netns", "exec", ns, cmd, ...args], {
    encoding: "utf8",
    input,
    stdio: ["pipe", "pipe", "pipe"],
  });
}

export function nsSpawn(
  ns: string,
  cmd: string,
  args: string[],
  options: SpawnOptions = {},
): ChildProcess {
  return spawn("ip", ["netns", "exec", ns, cmd, ...args], options);
}

export function deleteNetns(name: string) {
  try {
    ip("netns", "del", name);
  } catch {
    // already gone
  }
}

export function createNetns(name: string) {
  if (!name.startsWith(NETNS_PREFIX))
    throw new Error(`netns names must start with ${NETNS_PREFIX}`);
  deleteNetns(name);
  ip("netns", "add", name);
  ip("-n", name, "link", "set", "lo", "up");
}

/**
 * Two namespaces joined by a veth pair, each with an "outside" address and one or more
 * "inside" addresses on lo (the subnets behind the appliance).
 */
export interface PeerPairSpec {
  left: { ns: string; outside: string; inside: string[] };
  right: { ns: string; outside: string; inside: string[] };
  /** Prefix length of the outside link, e.g. 24. */
  outsidePrefix: number;
}

export function createPeerPair(spec: PeerPairSpec) {
  const { left, right } = spec;
  createNetns(left.ns);
  createNetns(right.ns);
  ip(
    "link",
    "add",
    "swpveth0",
    "netns",
    left.ns,
    "type",
    "veth",
    "peer",
    "name",
    "swpveth1",
    "netns",
    right.ns,
  );
  for (const [side, dev] of [
    [left, "swpveth0"],
    [right, "swpveth1"],
  ] as const) {
    ip("-n", side.ns, "addr", "add", `${side.outside}/${spec.outsidePrefix}`, "dev", dev);
    ip("-n", side.ns, "link", "set", dev, "up");
    // The kernel here has no dummy driver; inside addresses live on lo.
    for (const addr of side.inside) ip("-n", side.ns, "addr", "add", addr, "dev", "lo");
  }
  return {
    cleanup: () => {
      deleteNetns(left.ns);
      deleteNetns(right.ns);
    },
  };
}

/** Kills a child and waits for it; safe to call twice. */
export async function stopChild(
  child: ChildProcess | undefined,
  signal: NodeJS.Signals = "SIGTERM",
) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((resolve) => child.once("exit", resolve));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await done;
  clearTimeout(timer);
}
