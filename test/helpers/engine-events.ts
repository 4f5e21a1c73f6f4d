import type { EngineEvent } from "../../control-plane/src/decide/types.ts";

/** An engine event in one short line for table tests; undefined for health changes. */
export function describe(e: EngineEvent): string | undefined {
  switch (e.kind) {
    case "member-health-changed":
      return undefined;
    case "adopted":
      return `adopt ${e.active ?? "-"}#${e.epoch} ${e.source}`;
    case "stand-down":
      return `stand-down ${e.seen.active}#${e.seen.epoch}`;
    case "failover":
      return `failover ${e.from ?? "-"}>${e.to}#${e.epoch} ${e.reason}`;
    case "drift-healed":
      return `heal ${e.target}#${e.epoch} routes=${e.routes}`;
    case "alarm-no-healthy-target":
      return [
        `alarm ${e.reason}`,
        ...Object.entries(e.blocked).map(([m, why]) => `${m}=${why}`),
      ].join(" ");
    case "alarm-cleared":
      return "alarm-cleared";
  }
}
