import type { AgentStatus } from "../../../common/agent-api/status.ts";
import type { TunnelKey } from "./tunnel-keys.ts";

/**
 * Watches the tunnels of a key rotation through their agents' status and notes, per tunnel,
 * when it was not up and for how long. Pure: the caller looks (status of every end) and says
 * when. A tunnel is up when both ends report it up: on appliance a the tunnel to b is named b.
 * A look is only as fine as the polling, so each stretch is exact to within one poll interval.
 */

/** A stretch during which the tunnel was not up on both ends; `to` is null while it lasts. */
export interface DownStretch {
  from: string;
  to: string | null;
  ms: number | null;
}

export interface TunnelOutcome {
  appliances: [string, string];
  parameter: string;
  /** At the last look. "unknown": an end did not answer, or has no such tunnel (see `note`). */
  state: "up" | "down" | "unknown";
  down: DownStretch[];
  /** The stretches summed: how long the tunnel was seen down; null while it is still down. */
  gapMs: number | null;
  note?: string;
}

interface Track {
  key: TunnelKey;
  state: TunnelOutcome["state"];
  note?: string;
  /** An end that answered without this tunnel: it cannot come up, so it is not waited for. */
  missingOn?: string;
  stretches: Array<{ from: number; to: number | null }>;
}

export class GapWatch {
  readonly #tracks: Track[];

  constructor(keys: readonly TunnelKey[]) {
    this.#tracks = keys.map((key) => ({ key, state: "unknown", stretches: [] }));
  }

  /** One look at `at` (ms since the epoch): each end's status, null when it did not answer. */
  observe(at: number, statuses: ReadonlyMap<string, AgentStatus | null>): void {
    for (const track of this.#tracks) {
      const [a, b] = track.key.appliances;
      const ends = [end(statuses, a, b), end(statuses, b, a)];
      const missing = ends.find((e) => e.kind === "missing");
      const silent = ends.find((e) => e.kind === "silent");
      if (missing) {
        track.missingOn = missing.appliance;
        setUnknown(track, `${missing.appliance} has no tunnel named ${missing.far}`);
      } else if (silent) {
        setUnknown(track, `${silent.appliance} did not answer`);
      } else {
        const up = ends.every((e) => e.kind === "state" && e.state === "up");
        track.state = up ? "up" : "down";
        delete track.note;
        const open = track.stretches.at(-1);
        if (!up && (!open || open.to !== null)) track.stretches.push({ from: at, to: null });
        if (up && open && open.to === null) open.to = at;
      }
    }
  }

  /** The tunnels not up yet whose two ends are both in `live`; an empty list ends the wait. */
  waiting(live: ReadonlySet<string>): TunnelKey[] {
    return this.#tracks
      .filter(
        (t) =>
          t.state !== "up" &&
          t.missingOn === undefined &&
          t.key.appliances.every((a) => live.has(a)),
      )
      .map((t) => t.key);
  }

  outcomes(): TunnelOutcome[] {
    return this.#tracks.map((t) => {
      const down = t.stretches.map(({ from, to }) => ({
        from: new Date(from).toISOString(),
        to: to === null ? null : new Date(to).toISOString(),
        ms: to === null ? null : to - from,
      }));
      const open = down.some((d) => d.ms === null);
      return {
        appliances: t.key.appliances,
        parameter: t.key.parameter,
        state: t.state,
        down,
        gapMs: open ? null : down.reduce((sum, d) => sum + (d.ms ?? 0), 0),
        ...(t.note !== undefined && { note: t.note }),
      };
    });
  }
}

type End =
  | { kind: "state"; state: string }
  | { kind: "silent"; appliance: string }
  | { kind: "missing"; appliance: string; far: string };

/** What `appliance` says of its tunnel to `far`. */
function end(
  statuses: ReadonlyMap<string, AgentStatus | null>,
  appliance: string,
  far: string,
): End {
  const status = statuses.get(appliance);
  if (!status) return { kind: "silent", appliance };
  const tunnel = status.tunnels.find((x) => x.name === far);
  return tunnel ? { kind: "state", state: tunnel.state } : { kind: "missing", appliance, far };
}

function setUnknown(track: Track, note: string) {
  track.state = "unknown";
  track.note = note;
}
