import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { stringify } from "yaml";
import type { Fleet } from "../../control-plane/src/fleet/types.ts";

// biome-ignore lint/suspicious/noExplicitAny: tests change free-form config trees.
export type Tree = any;

/** The YAML tree an operator would write for `fleet` (the loader's inverse, near enough). */
export function fleetTree(fleet: Fleet): Tree {
  return {
    region: fleet.region,
    endpoint: fleet.endpoint,
    tag: fleet.tag,
    // A swap-only VPC lists no in-place tables at all.
    vpcs: fleet.vpcs.map(({ routeTables, ...v }) => ({
      ...v,
      ...(routeTables.length > 0 && { routeTables }),
    })),
    appliances: fleet.appliances.map(({ agent, ...a }) => ({
      ...a,
      agent: agent.kind === "unix" ? `unix://${agent.path}` : agent.url,
    })),
    pairs: fleet.pairs.map(({ vpc: _vpc, ...p }) => p),
    connections: fleet.connections,
    failover: fleet.failover,
    ...(fleet.leases && { leases: fleet.leases }),
  };
}

/** Writes `fleet` (after `change`) as dir/name and returns the path. */
export async function writeFleetFile(
  dir: string,
  fleet: Fleet,
  change: (tree: Tree) => void = () => {},
  name = "fleet.yaml",
): Promise<string> {
  const tree = fleetTree(fleet);
  change(tree);
  const path = join(dir, name);
  await writeFile(path, stringify(tree));
  return path;
}
