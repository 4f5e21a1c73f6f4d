import type { DecodedMessage, DecodedValue } from "../vici/message.ts";
import { CHILD_CARRYING, IKE_ALIVE } from "./tunnel-state.ts";

export interface SaObservation {
  ike: { uniqueId: string; state: string; establishedS?: number } | null;
  child: { uniqueId: string; state: string; installedS?: number } | null;
}

const section = (v: DecodedValue | undefined): DecodedMessage | undefined =>
  v !== undefined && typeof v === "object" && !Array.isArray(v) ? v : undefined;
const text = (v: DecodedValue | undefined): string => (typeof v === "string" ? v : "");
const seconds = (v: DecodedValue | undefined): number | undefined =>
  typeof v === "string" && v !== "" ? Number(v) : undefined;

/** Higher is better: a live SA beats one being set up or torn down; then the newest wins. */
function rank(state: string, uniqueId: string, live: ReadonlySet<string>): [number, number] {
  return [live.has(state) ? 1 : 0, Number(uniqueId) || 0];
}
function better(a: [number, number], b: [number, number]): boolean {
  return a[0] !== b[0] ? a[0] > b[0] : a[1] > b[1];
}

/**
 * Reduces list-sas events (one `{<conn name>: <IKE_SA>}` per event) to one IKE_SA and one
 * CHILD_SA per tunnel. Several can exist at once while an SA is rekeyed or replaced; the
 * one that carries traffic is reported.
 */
export function summariseSas(events: readonly DecodedMessage[]): Map<string, SaObservation> {
  const result = new Map<string, SaObservation & { ikeRank: [number, number] }>();
  for (const event of events) {
    for (const [name, value] of Object.entries(event)) {
      const ike = section(value);
      if (!ike) continue;
      const ikeObs = {
        uniqueId: text(ike.uniqueid),
        state: text(ike.state),
        establishedS: seconds(ike.established),
      };
      let child: SaObservation["child"] = null;
      let childRank: [number, number] = [-1, -1];
      for (const childValue of Object.values(section(ike["child-sas"]) ?? {})) {
        const c = section(childValue);
        if (!c || text(c.name) !== name) continue;
        const r = rank(text(c.state), text(c.uniqueid), CHILD_CARRYING);
        if (!better(r, childRank)) continue;
        childRank = r;
        child = {
          uniqueId: text(c.uniqueid),
          state: text(c.state),
          installedS: seconds(c["install-time"]),
        };
      }
      // An IKE_SA that carries the child wins over one that does not, then the live, newest one.
      const ikeRank = rank(ikeObs.state, ikeObs.uniqueId, IKE_ALIVE);
      const score: [number, number] = [ikeRank[0] * 2 + (child ? 1 : 0), ikeRank[1]];
      const existing = result.get(name);
      if (!existing || better(score, existing.ikeRank)) {
        result.set(name, { ike: ikeObs, child, ikeRank: score });
      }
    }
  }
  return new Map([...result].map(([name, { ike, child }]) => [name, { ike, child }]));
}
