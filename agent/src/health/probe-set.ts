import type { ProbeReading, ProbeStatus } from "../../../common/agent-api/status.ts";
import type { Logger } from "../../../common/logger.ts";
import type {
  IcmpPath,
  ResolvedPath,
  ResolvedProbe,
  ResolvedTunnel,
  UdpPath,
} from "../config/types.ts";
import { Pinger } from "./pinger.ts";
import { ProbeResponder } from "./probe-responder.ts";
import { Prober } from "./prober.ts";

const DISABLED: ProbeStatus = { state: "disabled", rttMs: null, loss: 0, sent: 0, received: 0 };

/** What a group runs: a UDP Prober, or a Pinger for ICMP paths. */
interface Probe {
  start(): void;
  stop(): Promise<void>;
  snapshot(): ProbeReading;
  onChange(listener: (status: ProbeReading) => void): () => void;
}

/**
 * Probers by name. sync() is level-triggered: it starts what is missing, stops what is gone,
 * and restarts only what changed, so a reload does not reset untouched rise/fall histories.
 */
class ProberGroup<T> {
  readonly #probers = new Map<string, { key: string; prober: Probe }>();
  readonly #log: Logger;
  /** The log field that names a prober: "tunnel" or "path". */
  readonly #kind: string;
  readonly #create: (probe: T, log: Logger) => Probe;
  readonly #onChange: () => void;

  constructor(
    log: Logger,
    kind: string,
    create: (probe: T, log: Logger) => Probe,
    onChange: () => void,
  ) {
    this.#log = log;
    this.#kind = kind;
    this.#create = create;
    this.#onChange = onChange;
  }

  /** Returns the stops under way, for the caller to await with its own. */
  sync(wanted: ReadonlyMap<string, T>): Promise<void>[] {
    const stops: Promise<void>[] = [];
    for (const [name, { key, prober }] of this.#probers) {
      const probe = wanted.get(name);
      if (probe && JSON.stringify(probe) === key) continue;
      this.#probers.delete(name);
      stops.push(prober.stop());
    }
    for (const [name, probe] of wanted) {
      if (this.#probers.has(name)) continue;
      const prober = this.#create(probe, this.#log.child({ [this.#kind]: name }));
      prober.onChange(() => this.#onChange());
      prober.start();
      this.#probers.set(name, { key: JSON.stringify(probe), prober });
    }
    return stops;
  }

  snapshot(name: string): ProbeReading | undefined {
    return this.#probers.get(name)?.prober.snapshot();
  }
}

function tunnelProber(probe: ResolvedProbe, log: Logger): Probe {
  return new Prober({ ...probe, log });
}

/** A path without its name (the group's key); its method picks what probes it. */
type PathProbe = Omit<UdpPath, "name"> | Omit<IcmpPath, "name">;

function pathProber(path: PathProbe, log: Logger): Probe {
  return path.method === "icmp" ? new Pinger({ ...path, log }) : new Prober({ ...path, log });
}

/**
 * The probers and responders a config asks for: one prober per tunnel with a probe, one
 * responder per inside address those probes use, and one prober per path (a pinger for an
 * icmp path). Paths get no responder of their own: a udp path's target is a far agent's tunnel
 * probe address, an icmp path's answers echo itself.
 */
export class ProbeSet {
  readonly #log: Logger;
  readonly #tunnels: ProberGroup<ResolvedProbe>;
  readonly #paths: ProberGroup<PathProbe>;
  readonly #responders = new Map<string, ProbeResponder>();
  #onChange: () => void = () => {};

  constructor(log: Logger) {
    this.#log = log;
    this.#tunnels = new ProberGroup(log, "tunnel", tunnelProber, () => this.#onChange());
    this.#paths = new ProberGroup(log, "path", pathProber, () => this.#onChange());
  }

  /** Called on every probe state change, e.g. to refresh status and metrics. */
  onChange(cb: () => void) {
    this.#onChange = cb;
  }

  async update(
    tunnels: readonly ResolvedTunnel[],
    paths: readonly ResolvedPath[] = [],
  ): Promise<void> {
    const wanted = new Map(
      tunnels.flatMap((t) => (t.probe ? [[t.name, t.probe] as [string, ResolvedProbe]] : [])),
    );
    const stops = [
      ...this.#tunnels.sync(wanted),
      ...this.#paths.sync(new Map(paths.map(({ name, ...probe }) => [name, probe]))),
    ];
    // One responder per inside address and port, shared by the tunnels that use it.
    const endpoints = new Map([...wanted.values()].map((p) => [`${p.source}|${p.port}`, p]));
    for (const [key, responder] of this.#responders) {
      if (endpoints.has(key)) continue;
      this.#responders.delete(key);
      stops.push(responder.stop());
    }
    for (const [key, p] of endpoints) {
      if (this.#responders.has(key)) continue;
      const responder = new ProbeResponder({ address: p.source, port: p.port, log: this.#log });
      responder.start();
      this.#responders.set(key, responder);
    }
    await Promise.all(stops);
  }

  snapshot(tunnel: string): ProbeStatus {
    return this.#tunnels.snapshot(tunnel) ?? DISABLED;
  }

  /** The path's reading; "unknown" and empty for a path not (yet) running. */
  pathSnapshot(path: string): ProbeReading {
    return this.#paths.snapshot(path) ?? { ...DISABLED, state: "unknown" };
  }

  async stop(): Promise<void> {
    await this.update([], []);
  }
}
