import type { Logger } from "../../../common/logger.ts";
import { type SharedSecret, sectionFingerprint } from "../render/index.ts";
import type { ViciMessage } from "../vici/message.ts";
import { type ApplyPlan, type Fingerprints, planApply } from "./plan.ts";

/** The VICI commands apply needs; the typed VICI helpers implement it. */
export interface CharonPort {
  getConns(): Promise<string[]>;
  getShared(): Promise<string[]>;
  /** Several connections in one load-conn; charon stops at the first it refuses. */
  loadConns(sections: Record<string, ViciMessage>): Promise<void>;
  unloadConn(name: string): Promise<void>;
  /** data: text stands for its UTF-8 bytes; bytes are sent as they are. */
  loadShared(secret: {
    id: string;
    type: string;
    owners: string[];
    data: string | Uint8Array;
  }): Promise<void>;
  unloadShared(id: string): Promise<void>;
}

export interface DesiredState {
  connections: Record<string, ViciMessage>;
  secrets: SharedSecret[];
}

export interface ApplyReport {
  plan: ApplyPlan;
}

/**
 * A secret with its owners, to notice a changed key: the key itself, as the desired state
 * holds it already; in memory only, never logged (plans carry ids).
 */
function secretFingerprint(s: SharedSecret): string {
  return `${JSON.stringify([s.type, s.owners])}\0${s.data.reveal()}`;
}

/** Rendered states are kept per config generation and re-applied every resync: print each once. */
const printed = new WeakMap<DesiredState, Fingerprints>();

function fingerprints(state: DesiredState): Fingerprints {
  let prints = printed.get(state);
  if (!prints) {
    prints = {
      conns: new Map(Object.entries(state.connections).map(([n, s]) => [n, sectionFingerprint(s)])),
      secrets: new Map(state.secrets.map((s) => [s.id, secretFingerprint(s)])),
    };
    printed.set(state, prints);
  }
  return prints;
}

const EMPTY: DesiredState = { connections: {}, secrets: [] };

/** Connections per load-conn message: one round trip each, well under VICI's frame limit. */
const LOAD_CONN_BATCH = 100;

/**
 * Brings charon's loaded connections and secrets to a desired state, sending only what
 * differs from what this charon already holds. If charon refuses part of a new state, the
 * previous one is restored, so charon never runs a half-applied config.
 */
export class Reconciler {
  readonly #log: Logger;
  /** What the running charon holds from us; forgotten when charon restarts. */
  #applied: DesiredState = EMPTY;
  #appliedPrints: Fingerprints = fingerprints(EMPTY);

  constructor(log: Logger) {
    this.#log = log;
  }

  /** A new charon holds nothing. */
  reset() {
    this.#applied = EMPTY;
    this.#appliedPrints = fingerprints(EMPTY);
  }

  /**
   * @param precheck ask charon what it holds (get-conns, get-shared) instead of trusting
   *   memory. The periodic resync prechecks, and so heals drift; a reload skips it to send
   *   one changed connection in milliseconds.
   */
  async apply(
    port: CharonPort,
    desired: DesiredState,
    { precheck = true } = {},
  ): Promise<ApplyReport> {
    const previous = this.#applied;
    try {
      return await this.#converge(port, desired, precheck);
    } catch (error) {
      this.#log.error({ err: error }, "charon refused the new state; restoring the previous one");
      await this.#converge(port, previous, true).catch((rollbackError) =>
        this.#log.error({ err: rollbackError }, "restoring the previous state failed"),
      );
      throw error;
    }
  }

  async #converge(
    port: CharonPort,
    desired: DesiredState,
    precheck: boolean,
  ): Promise<ApplyReport> {
    const prints = fingerprints(desired);
    const [conns, secrets] = precheck
      ? [await port.getConns(), await port.getShared()]
      : [[...this.#appliedPrints.conns.keys()], [...this.#appliedPrints.secrets.keys()]];
    const plan = planApply(prints, { conns, secrets }, this.#appliedPrints);
    const byId = new Map(desired.secrets.map((s) => [s.id, s]));
    // Keys before the connections that use them; removals after the additions. What charon
    // holds is recorded only once it confirmed it, so a rollback after a partial failure
    // re-sends anything that may have changed.
    for (const id of plan.loadSecrets) {
      const s = byId.get(id) as SharedSecret;
      this.#forget("secrets", [id]);
      await port.loadShared({ id, type: s.type, owners: s.owners, data: s.data.reveal() });
      this.#remember("secrets", [id], prints);
    }
    for (let i = 0; i < plan.loadConns.length; i += LOAD_CONN_BATCH) {
      const names = plan.loadConns.slice(i, i + LOAD_CONN_BATCH);
      this.#forget("conns", names);
      await port.loadConns(
        Object.fromEntries(names.map((n) => [n, desired.connections[n] as ViciMessage])),
      );
      this.#remember("conns", names, prints);
    }
    for (const name of plan.unloadConns) await port.unloadConn(name);
    for (const id of plan.unloadSecrets) await port.unloadShared(id);
    this.#applied = desired;
    this.#appliedPrints = prints;
    if (plan.loadConns.length + plan.unloadConns.length + plan.loadSecrets.length > 0) {
      this.#log.info(
        {
          loaded: plan.loadConns,
          unloaded: plan.unloadConns,
          secrets: plan.loadSecrets.length,
          unchanged: plan.unchanged.length,
        },
        "applied configuration to charon",
      );
    }
    return { plan };
  }

  #forget(kind: "conns" | "secrets", keys: readonly string[]) {
    const next = new Map(this.#appliedPrints[kind]);
    for (const key of keys) next.delete(key);
    this.#appliedPrints = { ...this.#appliedPrints, [kind]: next };
  }

  #remember(kind: "conns" | "secrets", keys: readonly string[], prints: Fingerprints) {
    const next = new Map(this.#appliedPrints[kind]);
    for (const key of keys) next.set(key, prints[kind].get(key) as string);
    this.#appliedPrints = { ...this.#appliedPrints, [kind]: next };
  }
}
