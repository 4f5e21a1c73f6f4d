import { CHILD_CARRYING, IKE_ALIVE } from "../../../common/agent-api/sa-states.ts";
import type { TunnelStatus } from "../../../common/agent-api/status.ts";
import type { SaEntry } from "../vici/commands.ts";
import type { DecodedMessage, DecodedValue } from "../vici/message.ts";

export type SaObservation = Pick<TunnelStatus, "ike" | "child">;

const section = (v: DecodedValue | undefined): DecodedMessage | undefined =>
  v !== undefined && typeof v === "object" && !Array.isArray(v) ? v : undefined;
const text = (v: DecodedValue | undefined): string => (typeof v === "string" ? v : "");
const seconds = (v: DecodedValue | undefined): number | undefined =>
  typeof v === "string" && v !== "" ? Number(v) : undefined;

/** Higher is better, compared in order: carries traffic, IKE_SA alive, newest child, newest IKE_SA. */
type Rank = [number, number, number, number];
function better(a: Rank, b: Rank): boolean {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return (a[i] as number) > (b[i] as number);
  }
  return false;
}

/**
 * Reduces list-sas entries (one IKE_SA each, named by its connection) to one IKE_SA and one
 * CHILD_SA per tunnel. A tunnel's CHILD_SA carries the tunnel's name, but it may live under
 * another tunnel's IKE_SA: charon reuses an IKE_SA to the same peer when two connections
 * have equal IKE settings. Several SAs can exist at once while one is rekeyed or replaced;
 * the one that carries traffic is reported.
 */
export function summariseSas(entries: readonly SaEntry[]): Map<string, SaObservation> {
  const best = new Map<string, { obs: SaObservation; rank: Rank }>();
  const offer = (tunnel: string, obs: SaObservation, rank: Rank) => {
    const current = best.get(tunnel);
    if (!current || better(rank, current.rank)) best.set(tunnel, { obs, rank });
  };
  for (const { ikeName: name, ike: ikeSection } of entries) {
    const ike = {
      uniqueId: text(ikeSection.uniqueid),
      state: text(ikeSection.state),
      establishedS: seconds(ikeSection.established),
      initiator: ikeSection.initiator === "yes",
    };
    const ikeAlive = IKE_ALIVE.has(ike.state) ? 1 : 0;
    const ikeId = Number(ike.uniqueId) || 0;
    offer(name, { ike, child: null }, [0, ikeAlive, -1, ikeId]);
    for (const childValue of Object.values(section(ikeSection["child-sas"]) ?? {})) {
      const c = section(childValue);
      if (!c) continue;
      const child = {
        uniqueId: text(c.uniqueid),
        state: text(c.state),
        installedS: seconds(c["install-time"]),
      };
      const carrying = ikeAlive && CHILD_CARRYING.has(child.state) ? 1 : 0;
      offer(text(c.name), { ike, child }, [carrying, ikeAlive, Number(child.uniqueId) || 0, ikeId]);
    }
  }
  return new Map([...best].map(([tunnel, { obs }]) => [tunnel, obs]));
}
