/**
 * One look at the fleet, for `swanpair status` and `swanpair plan`: gather once and run the
 * engine once with rise and fall of 1, so each member's status is what this single
 * observation says of it. Side hold-downs still count from the fence tags' times, so a plan
 * made during a hold-down shows the move as blocked, as the controller would.
 */

import { decide, initialState } from "../decide/engine.ts";
import { sidesOf } from "../decide/sides.ts";
import type { DecideResult, Observation } from "../decide/types.ts";
import type { Ec2 } from "../ec2/client.ts";
import type { Fleet } from "../fleet/types.ts";
import { type GatherErrors, gather } from "./gather.ts";
import { toObservation } from "./observation.ts";
import { type SideView, sideViews } from "./view.ts";

export interface Snapshot {
  observation: Observation;
  errors: GatherErrors;
  result: DecideResult;
  sides: SideView[];
}

export async function snapshot(
  ec2: Ec2,
  fleet: Fleet,
  opts: { agentTimeoutMs: number; self?: string },
): Promise<Snapshot> {
  const { gathered, errors } = await gather(ec2, fleet, { ...opts, now: Date.now });
  const sides = sidesOf(fleet);
  const observation = toObservation(fleet, sides, gathered);
  const oneShot: Fleet = { ...fleet, failover: { ...fleet.failover, rise: 1, fall: 1 } };
  const result = decide(oneShot, initialState, observation, { self: opts.self });
  return { observation, errors, result, sides: sideViews(sides, observation, result.state) };
}
