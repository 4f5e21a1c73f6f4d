import { labControllers } from "./controllers.ts";
import { docker, inspectContainers } from "./docker.ts";
import { THROTTLE_FLAG } from "./ec2-gate.ts";
import type { LabPlan } from "./plan.ts";
import { type LabState, writeLabState } from "./state.ts";

/**
 * `swanpair lab fail` and `heal`: the faults of the failure matrix, each done the way the real
 * failure looks from outside. EC2 is never told: a killed appliance's instance stays running.
 */

export const FAULT_MODES = ["kill", "pause", "charon", "partition", "throttle-ec2"] as const;
export type FaultMode = (typeof FAULT_MODES)[number];

export interface LabNodeRef {
  name: string;
  container: string;
  role: "router" | "appliance" | "host" | "controller";
  /** Its addresses on the lab's networks. */
  addresses: string[];
  vpc?: string;
}

export function labNodes(plan: LabPlan): LabNodeRef[] {
  const nodes: LabNodeRef[] = [];
  for (const v of plan.vpcs) {
    nodes.push({
      name: v.router.name,
      container: v.router.container,
      role: "router",
      addresses: [...v.subnets.map((s) => s.gateway), v.router.internetAddress],
      vpc: v.name,
    });
    for (const a of v.appliances) {
      nodes.push({
        name: a.name,
        container: a.container,
        role: "appliance",
        addresses: [a.address, a.pathSource],
        vpc: v.name,
      });
    }
    for (const h of v.hosts) {
      nodes.push({
        name: h.name,
        container: h.container,
        role: "host",
        addresses: [h.address],
        vpc: v.name,
      });
    }
  }
  if (plan.controller.mode === "central") {
    const c = plan.controller;
    nodes.push({
      name: c.node.name,
      container: c.node.container,
      role: "controller",
      addresses: [c.internetAddress, ...Object.values(c.vpcAddresses)],
    });
  }
  return nodes;
}

export class FaultError extends Error {}

export function nodeOf(plan: LabPlan, name: string): LabNodeRef {
  const node = labNodes(plan).find((n) => n.name === name || n.container === name);
  if (node === undefined) {
    throw new FaultError(
      `no node ${name} in lab ${plan.lab}; nodes: ${labNodes(plan)
        .map((n) => n.name)
        .join(", ")}`,
    );
  }
  return node;
}

/** Who a partition cuts NODE from by default: the controller, or in co-located mode its partner. */
export function partitionPeer(plan: LabPlan, node: LabNodeRef): LabNodeRef {
  if (plan.controller.mode === "central" && node.role !== "controller")
    return nodeOf(plan, plan.controller.node.name);
  const vpc = plan.vpcs.find((v) => v.appliances.some((a) => a.name === node.name));
  const partner = vpc?.appliances.find((a) => a.name !== node.name);
  if (partner === undefined)
    throw new FaultError(`${node.name}: give --from; it has no default peer to be cut from`);
  return nodeOf(plan, partner.name);
}

const CHARON = "charon-systemd";

const controllersOf = (plan: LabPlan) => labControllers(plan).map((c) => c.name);

const runsController = (plan: LabPlan, node: LabNodeRef) => controllersOf(plan).includes(node.name);
const partitionTag = (a: string, b: string) => `swanpair-partition:${[a, b].sort().join("/")}`;

async function dropBetween(node: LabNodeRef, other: LabNodeRef, add: boolean): Promise<void> {
  const comment = partitionTag(node.name, other.name);
  for (const [here, there] of [
    [node, other],
    [other, node],
  ] as const) {
    for (const addr of there.addresses) {
      for (const [chain, dir] of [
        ["INPUT", "-s"],
        ["OUTPUT", "-d"],
      ] as const) {
        const rule = [chain, dir, addr, "-m", "comment", "--comment", comment, "-j", "DROP"];
        const args = ["exec", here.container, "iptables", "-w", add ? "-I" : "-D", ...rule];
        await docker(args).catch((err) => {
          // Removing a rule that is gone (a restarted container) is done already.
          if (add) throw err;
        });
      }
    }
  }
}

export interface FaultResult {
  node: string;
  mode: FaultMode;
  /** When the fault took effect, as the lab saw it (ms since the epoch). */
  at: number;
  /** When the lab began to inject it: what the fault causes may be logged before `at`. */
  began: number;
  detail: string;
}

export async function failNode(
  state: LabState,
  name: string,
  mode: FaultMode,
  from?: string,
): Promise<FaultResult> {
  const node = nodeOf(state.plan, name);
  const began = Date.now();
  let detail: string;
  switch (mode) {
    case "kill":
      await docker(["kill", node.container]);
      detail = `docker kill ${node.container}`;
      break;
    case "pause":
      await docker(["pause", node.container]);
      detail = `docker pause ${node.container}`;
      break;
    case "charon": {
      if (node.role !== "appliance")
        throw new FaultError(`${name} is not an appliance; it runs no charon`);
      // Every charon in the container, by /proc, so the image needs no procps.
      const script = `for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = ${CHARON} ] && kill -9 \${p#/proc/} && echo \${p#/proc/}; done; true`;
      const killed = (await docker(["exec", node.container, "sh", "-c", script])).trim();
      if (killed === "") throw new FaultError(`${name}: no ${CHARON} runs`);
      detail = `kill -9 ${CHARON} (pid ${killed.split("\n").join(", ")}) in ${node.container}`;
      break;
    }
    case "partition": {
      const other = from === undefined ? partitionPeer(state.plan, node) : nodeOf(state.plan, from);
      await dropBetween(node, other, true);
      state.partitions = [...new Set([...state.partitions, partitionTag(node.name, other.name)])];
      await writeLabState(state);
      detail = `dropped every packet between ${node.name} and ${other.name}`;
      break;
    }
    case "throttle-ec2": {
      if (!runsController(state.plan, node)) {
        throw new FaultError(
          `${name} runs no controller; throttle the controller's EC2 calls (${controllersOf(state.plan).join(", ")})`,
        );
      }
      await docker(["exec", node.container, "touch", THROTTLE_FLAG]);
      state.throttled = [...new Set([...state.throttled, node.name])];
      await writeLabState(state);
      const whose =
        node.role === "controller" ? "the central controller" : `${node.name}'s controller`;
      detail = `EC2 throttles ${whose}: RequestLimitExceeded beyond 2 calls a second per action`;
      break;
    }
  }
  return { node: node.name, mode, at: Date.now(), began, detail };
}

/** Undoes every fault on NODE: starts or resumes its container and lifts its partitions. */
export async function healNode(state: LabState, name: string): Promise<string[]> {
  const node = nodeOf(state.plan, name);
  const done: string[] = [];
  const [c] = await inspectContainers([node.container]);
  if (c?.paused) {
    await docker(["unpause", node.container]);
    done.push(`docker unpause ${node.container}`);
  } else if (c !== undefined && !c.running) {
    await docker(["start", node.container]);
    done.push(`docker start ${node.container}`);
  }
  if (state.throttled.includes(node.name)) {
    await docker(["exec", node.container, "rm", "-f", THROTTLE_FLAG]).catch(() => undefined);
    state.throttled = state.throttled.filter((n) => n !== node.name);
    done.push(`EC2 no longer throttled for ${node.name}`);
  }
  for (const tag of state.partitions.filter((p) =>
    p.split(":")[1]?.split("/").includes(node.name),
  )) {
    const [a, b] = (tag.split(":")[1] ?? "").split("/");
    await dropBetween(nodeOf(state.plan, a ?? ""), nodeOf(state.plan, b ?? ""), false);
    state.partitions = state.partitions.filter((p) => p !== tag);
    done.push(`lifted the partition ${a}/${b}`);
  }
  await writeLabState(state);
  return done;
}
