import type { Logger } from "../../../common/logger.ts";
import type { ResolvedConfig } from "../config/types.ts";
import { applyDatapath } from "./apply.ts";
import { desiredDatapath } from "./plan.ts";

/**
 * Keeps the host's links, addresses and routes for route-based tunnels as the config asks
 * (decision 0023), each time it is called: on start (before charon), on every resync and after
 * a reload. A failure that persists is logged once.
 */
export class DatapathKeeper {
  readonly #log: Logger;
  #failures = "";
  /** Something was wanted since start: once nothing is, one more pass removes its routes. */
  #used = false;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** @param carriers per aws-vpn entry, the tunnel that carries now, where known */
  async keep(config: ResolvedConfig, carriers: ReadonlyMap<string, string>): Promise<void> {
    const desired = desiredDatapath(config, carriers);
    const wanted = desired.routes.length + desired.addresses.length > 0;
    // Without route-based tunnels the agent never runs `ip` (nor needs iproute2).
    if (!wanted && !this.#used) return;
    this.#used = wanted;
    const failures = await applyDatapath(desired, config.appliance.localAddress);
    const text = failures.join("; ");
    if (text !== this.#failures && failures.length > 0)
      this.#log.warn({ failures }, "could not set up every link, address or route; will retry");
    this.#failures = text;
  }
}
