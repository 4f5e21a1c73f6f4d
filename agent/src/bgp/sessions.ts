import type { Logger } from "../../../common/logger.ts";
import type { ResolvedConfig } from "../config/types.ts";
import { Frr, type NeighborState } from "./frr.ts";
import { type BgpModel, bgpModel } from "./render.ts";

/** How often bgpd's sessions are read while it runs. */
const POLL_MS = 1000;

/**
 * bgpd as the running config asks (decision 0024): started, reloaded hitlessly or stopped on
 * sync(), and its sessions read every second; onChange hears when they change.
 */
export class BgpSessions {
  readonly #log: Logger;
  readonly #onChange: () => void;
  #frr: Frr | undefined;
  #model: BgpModel | undefined;
  #sessions = new Map<string, NeighborState>();
  #timer: NodeJS.Timeout | undefined;

  constructor(log: Logger, onChange: () => void) {
    this.#log = log;
    this.#onChange = onChange;
  }

  async sync(config: ResolvedConfig): Promise<void> {
    const model = bgpModel(config);
    const same = JSON.stringify(model) === JSON.stringify(this.#model);
    this.#model = model;
    if (model === undefined) return this.stop();
    this.#frr ??= new Frr(config.appliance.name, this.#log);
    if (!this.#frr.running) await this.#frr.start(model);
    else if (!same) await this.#frr.reload(model);
    this.#timer ??= setInterval(() => void this.#poll(), POLL_MS);
  }

  /** The session with `neighbor` (AWS's inside address) as last read. */
  session(neighbor: string): NeighborState | undefined {
    return this.#sessions.get(neighbor);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#frr?.stop();
    this.#frr = undefined;
    this.#sessions.clear();
  }

  async #poll(): Promise<void> {
    if (!this.#frr?.running) return;
    const read = await this.#frr.neighbors().catch((err: Error) => {
      this.#log.debug({ err }, "bgpd did not answer");
      return new Map<string, NeighborState>();
    });
    if (JSON.stringify([...read]) === JSON.stringify([...this.#sessions])) return;
    this.#sessions = read;
    this.#onChange();
  }
}
