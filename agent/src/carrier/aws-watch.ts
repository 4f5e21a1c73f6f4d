import type { ProbeStatus } from "../../../common/agent-api/status.ts";
import type { Logger } from "../../../common/logger.ts";
import type { ResolvedTunnel } from "../config/types.ts";
import { Pinger } from "../health/pinger.ts";
import { type AwsMember, awsProbeStates, markPing } from "./aws.ts";

/**
 * One ping per aws-vpn entry, of the carrying tunnel's AWS inside address, and the tunnels'
 * probe states from it (aws.ts; decision 0023). The daemon tells it, after every judgement,
 * which tunnel carries: the ping follows the carrier, and starts afresh on a switch.
 */

const DISABLED: ProbeStatus = { state: "disabled", rttMs: null, loss: 0, sent: 0, received: 0 };

interface Watched {
  tunnels: ResolvedTunnel[];
  /** The tunnel whose inside address is pinged, and the pinger. */
  target: string;
  pinger: Pinger;
  /** What the ping depends on: a reload that changes nothing of it keeps its history. */
  key: string;
}

/** The tunnels' names, and the target's address and probe settings. */
function pingKey(tunnels: readonly ResolvedTunnel[], target: string): string {
  const t = tunnels.find((x) => x.name === target);
  return JSON.stringify([tunnels.map((x) => x.name), t?.aws?.inside.remote, t?.aws?.probe]);
}

export interface AwsObservation {
  members: AwsMember[];
  carrier: string | null;
}

export class AwsCarrierWatch {
  readonly #log: Logger;
  readonly #entries = new Map<string, Watched>();
  /** Per entry, kept across retargets: the CHILD_SAs whose ping fell while they carried. */
  readonly #failed = new Map<string, Map<string, string>>();
  /** The entry's tunnels and SAs now, read when its ping changes state. */
  readonly #observe: (tunnels: readonly ResolvedTunnel[]) => AwsObservation;
  readonly #onChange: () => void;

  constructor(opts: {
    log: Logger;
    observe: (tunnels: readonly ResolvedTunnel[]) => AwsObservation;
    onChange: () => void;
  }) {
    this.#log = opts.log;
    this.#observe = opts.observe;
    this.#onChange = opts.onChange;
  }

  /**
   * Level-triggered: one ping per entry in `groups`, of its carrier in `carriers`; an entry
   * whose carrier is not known keeps its target (at first: its first tunnel).
   */
  async sync(groups: readonly ResolvedTunnel[][], carriers: ReadonlyMap<string, string>) {
    const wanted = new Map(
      groups.flatMap((g) => (g[0]?.aws ? [[g[0].aws.entry, g] as const] : [])),
    );
    const stops: Promise<void>[] = [];
    for (const [entry, w] of this.#entries) {
      const group = wanted.get(entry);
      const target = carriers.get(entry) ?? w.target;
      if (group && target === w.target && pingKey(group, target) === w.key) {
        w.tunnels = group;
        continue;
      }
      this.#entries.delete(entry);
      if (!group) this.#failed.delete(entry);
      stops.push(w.pinger.stop());
    }
    for (const [entry, tunnels] of wanted) {
      if (this.#entries.has(entry)) continue;
      const target = tunnels.find((t) => t.name === carriers.get(entry)) ?? tunnels[0];
      if (!target?.aws) continue;
      const { intervalMs, fall, rise } = target.aws.probe;
      const pinger = new Pinger({
        target: target.aws.inside.remote,
        intervalMs,
        fall,
        rise,
        log: this.#log.child({ tunnel: target.name }),
      });
      const w: Watched = {
        tunnels,
        target: target.name,
        pinger,
        key: pingKey(tunnels, target.name),
      };
      pinger.onChange((status) => {
        const { members, carrier } = this.#observe(w.tunnels);
        // The ping measures its target; a mark goes to it only while it still carries.
        const failed = this.#failed.get(entry) ?? new Map();
        const judged = carrier === w.target ? carrier : null;
        this.#failed.set(entry, markPing(failed, members, judged, status.state));
        this.#onChange();
      });
      pinger.start();
      this.#entries.set(entry, w);
    }
    await Promise.all(stops);
  }

  /** The probe states the entry's tunnels are judged with. */
  probeStates(entry: string, observed: AwsObservation) {
    const w = this.#entries.get(entry);
    const ping = w && w.target === observed.carrier ? w.pinger.snapshot().state : "unknown";
    const failed = this.#failed.get(entry) ?? new Map();
    return awsProbeStates(observed.members, observed.carrier, ping, failed);
  }

  /** What /v1/status shows as the tunnel's probe: the ping while it is the ping's target. */
  snapshot(tunnel: ResolvedTunnel, state: ProbeStatus["state"]): ProbeStatus {
    const w = tunnel.aws && this.#entries.get(tunnel.aws.entry);
    if (w?.target === tunnel.name) return w.pinger.snapshot();
    return { ...DISABLED, state: state === "down" ? "down" : "disabled" };
  }

  async stop(): Promise<void> {
    await this.sync([], new Map());
  }
}
