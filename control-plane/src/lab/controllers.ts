import type { LabPlan } from "./plan.ts";

/** One of a lab's controllers: the node it runs on, by name, container and address. */
export interface LabControllerNode {
  name: string;
  container: string;
  address: string;
}

/**
 * Where a lab's controllers run: the central one in its own container (reached on the
 * internet network), or co-located, one beside each appliance's agent.
 */
export function labControllers(plan: LabPlan): LabControllerNode[] {
  if (plan.controller.mode === "central") {
    const { node, internetAddress } = plan.controller;
    return [{ name: node.name, container: node.container, address: internetAddress }];
  }
  return plan.vpcs.flatMap((v) =>
    v.appliances.map((a) => ({ name: a.name, container: a.container, address: a.address })),
  );
}
