/**
 * One tick's reads, all at once: the fleet's route tables and instances from EC2, and every
 * agent's status. A failed read is recorded, never thrown: the engine treats an unread side as
 * "leave alone" and an unanswered agent as unreachable.
 */

import type { AgentStatus } from "../../../common/agent-api/status.ts";
import { agentClient } from "../agents.ts";
import { sidesOf } from "../decide/sides.ts";
import type { Ec2State } from "../decide/types.ts";
import type { Ec2 } from "../ec2/client.ts";
import { impairedInstances } from "../ec2/instance-health.ts";
import { describeInstances } from "../ec2/instances.ts";
import { describeManagedTables } from "../ec2/managed-tables.ts";
import type { Fleet } from "../fleet/types.ts";
import { ec2StateOf, type Gathered } from "./observation.ts";

export interface GatherErrors {
  /** Why EC2's route tables could not be read, if they could not. */
  routeTables?: string;
  instances?: string;
  /** Per appliance whose agent did not answer. */
  agents: Record<string, string>;
}

/** One line per failed read, for status output and the controller's lastErrors. */
export function gatherProblems(errors: GatherErrors): string[] {
  return [
    ...(errors.routeTables ? [`route tables: ${errors.routeTables}`] : []),
    ...(errors.instances ? [`instances: ${errors.instances}`] : []),
    ...Object.entries(errors.agents).map(([a, e]) => `agent ${a}: ${e}`),
  ];
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

async function instanceStates(ec2: Ec2, fleet: Fleet): Promise<Map<string, Ec2State>> {
  const found = await describeInstances(
    ec2,
    fleet.appliances.map((a) => a.instanceId),
  );
  const running = [...found.values()].filter((i) => i.state === "running").map((i) => i.instanceId);
  const impaired = running.length > 0 ? await impairedInstances(ec2, running) : new Set<string>();
  return new Map(
    [...found.values()].map((i) => [i.instanceId, ec2StateOf(i.state, impaired.has(i.instanceId))]),
  );
}

export async function gather(
  ec2: Ec2,
  fleet: Fleet,
  opts: { agentTimeoutMs: number; now: () => number },
): Promise<{ gathered: Gathered; errors: GatherErrors }> {
  const errors: GatherErrors = { agents: {} };
  // The sides are derived once per fleet; their routes are managedRoutes(fleet), in order.
  const routes = sidesOf(fleet).flatMap((s) => s.routes);
  const [tables, instances, statuses] = await Promise.all([
    describeManagedTables(ec2, fleet, routes).catch((e: unknown) => {
      errors.routeTables = message(e);
      return undefined;
    }),
    instanceStates(ec2, fleet).catch((e: unknown) => {
      errors.instances = message(e);
      return new Map<string, Ec2State>();
    }),
    Promise.all(
      fleet.appliances.map(async (a): Promise<[string, AgentStatus | undefined]> => {
        try {
          const client = agentClient(fleet, a, { timeoutMs: opts.agentTimeoutMs });
          return [a.name, await client.status()];
        } catch (e) {
          errors.agents[a.name] = message(e);
          return [a.name, undefined];
        }
      }),
    ),
  ]);
  return {
    gathered: { now: opts.now(), tables, instances, agents: Object.fromEntries(statuses) },
    errors,
  };
}
