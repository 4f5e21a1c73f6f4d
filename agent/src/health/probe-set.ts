import type { Logger } from "../../../common/logger.ts";
import type { ResolvedProbe, ResolvedTunnel } from "../config/types.ts";
import type { ProbeStatus } from "../status.ts";
import { ProbeResponder } from "./probe-responder.ts";
import { Prober } from "./prober.ts";

const DISABLED: ProbeStatus = { state: "disabled", rttMs: null, loss: 0, sent: 0, received: 0 };

/**
 * The probers and responders a config asks for. update() is level-triggered: it starts what
 * is missing, stops what is gone, and restarts only what changed, so a reload does not reset
 * the rise/fall history of untouched tunnels.
 */
export class ProbeSet {
  readonly #log: Logger;
  readonly #probers = new Map<string, { key: string; prober: Prober }>();
  readonly #responders = new Map<string, ProbeResponder>();
  #onChange: () => void = () => {};

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Called on every probe state change, e.g. to refresh status and metrics. */
  onChange(cb: () => void) {
    this.#onChange = cb;
  }

  async update(tunnels: readonly ResolvedTunnel[]): Promise<void> {
    const wanted = new Map(
      tunnels.flatMap((t) => (t.probe ? [[t.name, t.probe] as [string, ResolvedProbe]] : [])),
    );
    const stops: Promise<void>[] = [];
    for (const [name, { key, prober }] of this.#probers) {
      const probe = wanted.get(name);
      if (probe && JSON.stringify(probe) === key) continue;
      this.#probers.delete(name);
      stops.push(prober.stop());
    }
    for (const [name, probe] of wanted) {
      if (this.#probers.has(name)) continue;
      const prober = new Prober({ ...probe, log: this.#log.child({ tunnel: name }) });
      prober.onChange(() => this.#onChange());
      prober.start();
      this.#probers.set(name, { key: JSON.stringify(probe), prober });
    }
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
    return this.#probers.get(tunnel)?.prober.snapshot() ?? DISABLED;
  }

  async stop(): Promise<void> {
    await this.update([]);
  }
}
