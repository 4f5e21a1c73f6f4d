import { installed } from "../../../common/agent-api/carries.ts";
import type { CarrierGroupStatus, ProbeStatus } from "../../../common/agent-api/status.ts";
import type { SaObservation } from "../health/sa-state.ts";
import { CHILD_NEGOTIATING } from "../health/tunnel-state.ts";

/**
 * Which tunnel of a carrier group carries, and what to do about it (decision 0017), pure:
 * observations in, one action out. carrier.test.ts holds the table and the 2x2 mesh proof.
 */

/** What the agent knows about one member of a group. */
export interface Member {
  name: string;
  priority: number | undefined;
  probe: ProbeStatus["state"];
  /** Its IKE_SA and its main CHILD_SA (the newest of its name), as summariseSas reports them. */
  sa: SaObservation;
  /** The agent asked charon to initiate it and has not seen the outcome yet. */
  initiating: boolean;
  /** This end may start its CHILD_SA now (mayStartMain), or leaves that to the far end's agent. */
  mayStart: boolean;
}

export type CarrierAction =
  /** The wanted member has no CHILD_SA: a new one will be installed last, so it carries. */
  | { kind: "initiate"; tunnel: string }
  /**
   * Another member's CHILD_SA was installed after the wanted one's (`newer`): rekeying it
   * installs a new CHILD_SA before the old one goes (make-before-break), so it carries again.
   */
  | { kind: "rekey"; tunnel: string; childId: string; newer: string };

export interface Judgement extends CarrierGroupStatus {
  action: CarrierAction | null;
}

type Child = NonNullable<SaObservation["child"]>;
/** What telling the carrier needs of a member. */
type Ranked = Pick<Member, "name" | "priority" | "sa">;

const installedS = (m: Ranked) => (m.sa.child as Child).installedS ?? Number.MAX_SAFE_INTEGER;

/**
 * Who carries: under libipsec the member installed last. charon reports install times in whole
 * seconds, and within one second its order is not visible (unique ids do not tell it: as the
 * responder to a rekey charon installs the outbound SA after the initiator's, so two crossing
 * rekeys can install the lower id last). Members installed in the newest second together are
 * `tied`, and none of them is known to carry.
 */
interface Carrier<M extends Ranked = Member> {
  member: M | null;
  tied: M[];
}

/** The member that carries now, if known (see carrierOf). */
export function carrierName(
  members: readonly Ranked[],
  datapath: "libipsec" | "kernel",
): string | null {
  return (
    carrierOf(
      members.filter((m) => installed(m.sa)),
      datapath,
    ).member?.name ?? null
  );
}

function carrierOf<M extends Ranked>(
  live: readonly M[],
  datapath: "libipsec" | "kernel",
): Carrier<M> {
  const [first, second] = live;
  if (first === undefined) return { member: null, tied: [] };
  if (datapath === "libipsec") {
    const newest = Math.min(...live.map(installedS));
    const tied = live.filter((m) => installedS(m) === newest);
    return tied.length === 1 ? { member: tied[0] ?? null, tied: [] } : { member: null, tied };
  }
  // Members come by ascending priority; the kernel's pick between equals is not visible.
  const tied =
    second !== undefined && (first.priority === undefined || first.priority === second.priority);
  return { member: tied ? null : first, tied: [] };
}

/**
 * @param members the group's members by preference (carrierGroups' order)
 * @returns who carries now, who should, and the one action that makes it so (libipsec only)
 */
export function judgeGroup(members: readonly Member[], datapath: "libipsec" | "kernel"): Judgement {
  const carrier = carrierOf(
    members.filter((m) => installed(m.sa)),
    datapath,
  );
  const wanted = datapath === "libipsec" ? members.find((m) => m.probe === "up") : undefined;
  const judged = { members: members.map((m) => m.name), carrier: carrier.member?.name ?? null };
  if (wanted === undefined) return { ...judged, wanted: null, action: null };
  return { ...judged, wanted: wanted.name, action: actionFor(wanted, carrier) };
}

function actionFor(wanted: Member, carrier: Carrier): CarrierAction | null {
  const child = wanted.sa.child;
  if (!installed(wanted.sa)) {
    // A CHILD_SA being negotiated will be installed last anyway; one the far end starts, too.
    const negotiating = child !== null && CHILD_NEGOTIATING.has(child.state);
    const waiting = negotiating || wanted.initiating || !wanted.mayStart;
    return waiting ? null : { kind: "initiate", tunnel: wanted.name };
  }
  // Rekeying already (REKEYING), or replaced by the far end's rekey (REKEYED): wait for it.
  if (child?.state !== "INSTALLED" || carrier.member === wanted) return null;
  // Another member was installed later, or in the same second: a rekey (at most one per group
  // every few seconds) installs the wanted one a whole second after the others at least.
  const rival = carrier.member ?? carrier.tied.find((m) => m !== wanted);
  if (rival === undefined) return null;
  return { kind: "rekey", tunnel: wanted.name, childId: child.uniqueId, newer: rival.name };
}
