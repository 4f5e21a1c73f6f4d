/**
 * The failover decision engine: a pure reducer called once per tick. It compares what the
 * fleet wants with what the observation shows, every time, so a missed tick or a restart with
 * empty state loses nothing. docs/failover.md has the state table.
 */

import type { Fleet } from "../fleet/types.ts";
import { decideSide } from "./side.ts";
import { sideKey, sidesOf } from "./sides.ts";
import type {
  Action,
  DecideResult,
  EngineEvent,
  EngineOptions,
  EngineState,
  Observation,
  SideState,
} from "./types.ts";

export { statusOf } from "./member-health.ts";
export { sideKey } from "./sides.ts";

export const initialState: EngineState = Object.freeze({ sides: {} });

export function decide(
  fleet: Fleet,
  state: EngineState,
  observation: Observation,
  options: EngineOptions = {},
): DecideResult {
  const { self } = options;
  if (self !== undefined && !fleet.pairs.some((p) => p.members.includes(self))) {
    throw new Error(`self ${self} is not a member of any pair`);
  }
  // Co-located, the controller decides only its own pair's sides.
  const sides = sidesOf(fleet).filter((s) => self === undefined || s.members.includes(self));
  const observed = new Map(observation.sides.map((o) => [sideKey(o.connection, o.pair), o]));
  const next: Record<string, SideState> = {};
  const actions: Action[] = [];
  const events: EngineEvent[] = [];
  for (const side of sides) {
    const prev = state.sides[side.key];
    const o = observed.get(side.key);
    // EC2 could not be read for this side: nothing to compare with, so nothing changes.
    if (o === undefined) {
      if (prev !== undefined) next[side.key] = prev;
      continue;
    }
    const r = decideSide({
      side,
      prev,
      observed: o,
      members: observation.members,
      policy: fleet.failover,
      now: observation.now,
      self,
      watchOnly: options.holds !== undefined && !options.holds(side.key),
    });
    next[side.key] = r.state;
    actions.push(...r.actions);
    events.push(...r.events);
  }
  return { state: { sides: next }, actions, events };
}
