import { installed } from "../../../common/agent-api/carries.ts";
import type { ProbeReading } from "../../../common/agent-api/status.ts";
import type { SaObservation } from "../health/sa-state.ts";

/**
 * The probe state each tunnel of an aws-vpn entry counts with when its group is judged
 * (decision 0023), pure. Only the carrying tunnel's data path can be probed (libipsec sends
 * everything into the newest CHILD_SA, and AWS runs no agent), so:
 * - the carrier counts as its ping says, and as up until the ping decides;
 * - another tunnel counts as up while its CHILD_SA is installed, unless that very CHILD_SA
 *   (by unique id) failed while it carried;
 * - a tunnel without an installed CHILD_SA is down;
 * - when that leaves no tunnel up, the marks are forgotten.
 * judgeGroup then wants the first tunnel that is up, and rekeys it to carry.
 */

export interface AwsMember {
  name: string;
  sa: SaObservation;
}

/** Per tunnel, the unique id of the CHILD_SA whose ping fell while it carried. */
export type FailedChildren = ReadonlyMap<string, string>;

export function awsProbeStates(
  members: readonly AwsMember[],
  carrier: string | null,
  ping: ProbeReading["state"],
  failed: FailedChildren,
): Map<string, ProbeReading["state"]> {
  const state = (m: AwsMember, marks: FailedChildren): ProbeReading["state"] => {
    if (!installed(m.sa)) return "down";
    if (marks.get(m.name) === m.sa.child?.uniqueId) return "down";
    if (m.name === carrier && ping === "down") return "down";
    return "up";
  };
  const states = new Map(members.map((m) => [m.name, state(m, failed)]));
  if ([...states.values()].includes("up")) return states;
  // Every tunnel failed once: a mark is old news then (the endpoint may be back), so the
  // installed tunnels other than the falling carrier are tried again.
  return new Map(members.map((m) => [m.name, state(m, new Map())]));
}

/**
 * The failed marks after the carrier's ping changed: a fall marks the carrier's CHILD_SA, a
 * rise clears the carrier's mark. Marks of CHILD_SAs that are gone are dropped.
 */
export function markPing(
  failed: FailedChildren,
  members: readonly AwsMember[],
  carrier: string | null,
  ping: ProbeReading["state"],
): Map<string, string> {
  const next = new Map(
    [...failed].filter(
      ([name, id]) => members.find((m) => m.name === name)?.sa.child?.uniqueId === id,
    ),
  );
  const child = members.find((m) => m.name === carrier)?.sa.child;
  if (carrier === null || !child) return next;
  if (ping === "down") next.set(carrier, child.uniqueId);
  if (ping === "up") next.delete(carrier);
  return next;
}
