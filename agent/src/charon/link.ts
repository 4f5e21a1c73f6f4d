import { SwpError } from "../../../common/errors.ts";
import type { Logger } from "../../../common/logger.ts";
import type { CharonPort } from "../apply/reconciler.ts";
import { type SaObservation, summariseSas } from "../health/sa-state.ts";
import { ViciClient } from "../vici/client.ts";
import * as vici from "../vici/commands.ts";
import { EventWatch } from "./event-watch.ts";

export interface LinkOptions {
  viciPath: string;
  /** Fast polling lasts this long after charon starts; then the link keeps trying, slower. */
  connectTimeoutMs: number;
  logger: Logger;
  /** A new charon (or the first) answers VICI: load everything. */
  onReady: () => void;
  /** An SA came up, went down or was rekeyed, or events may have been missed: re-read the SAs. */
  onEvent: () => void;
  /** The connection to charon closed: whatever it held is gone; that charon ran `ranMs`. */
  onLost: (lost: { ranMs: number }) => void;
}

/** The operations the daemon runs against charon, over the current connection. */
export interface CharonOps extends CharonPort {
  listSas(): Promise<Map<string, SaObservation>>;
  /** Initiates a tunnel's CHILD_SA `child` (its main one unless told), and its IKE_SA if needed. */
  initiate(tunnel: string, child?: string): Promise<void>;
  terminate(tunnel: string): Promise<void>;
  /** Rekeys one CHILD_SA, by charon's unique id; charon does it in the background. */
  rekeyChild(childId: string): Promise<void>;
}

const FAST_POLL_MS = 20;
const SLOW_POLL_MS = 1000;
const CALL_TIMEOUT_MS = 10_000;
/** How long after an initiate a tunnel without a CHILD_SA counts as connecting rather than down. */
const INITIATING_MS = 10_000;
const EVENTS = ["ike-updown", "child-updown", "ike-rekey", "child-rekey"];

/**
 * Keeps one command connection and one event subscription to charon's VICI socket. EOF
 * means charon is gone; the link then polls the socket until a charon answers again.
 */
export class CharonLink {
  readonly #opts: LinkOptions;
  readonly #log: Logger;
  #client: ViciClient | undefined;
  #events: EventWatch | undefined;
  #polling = false;
  #closed = false;
  #version: string | null = null;
  /** When the connected charon started (its own word, else when the link found it). */
  #startedAt = 0;
  readonly #initiatedAt = new Map<string, number>();

  constructor(opts: LinkOptions) {
    this.#opts = opts;
    this.#log = opts.logger;
  }

  get ready(): boolean {
    return this.#client !== undefined;
  }
  get connecting(): boolean {
    return this.#polling;
  }
  get version(): string | null {
    return this.#version;
  }

  /** Starts polling for charon's socket unless already connected or polling. */
  connect(): void {
    if (this.#client || this.#polling || this.#closed) return;
    this.#polling = true;
    void this.#poll().finally(() => {
      this.#polling = false;
    });
  }

  /** charon exited (or the socket closed): forget the connection, then look for the next charon. */
  lost(): void {
    const client = this.#client;
    if (!client) return;
    this.#client = undefined;
    this.#version = null;
    this.#events?.stop();
    client.close();
    const ranMs = Math.max(0, Date.now() - this.#startedAt);
    this.#log.warn({ ranMs }, "lost charon's VICI connection");
    this.#opts.onLost({ ranMs });
    this.connect();
  }

  close(): void {
    this.#closed = true;
    this.#events?.stop();
    this.#client?.close();
    this.#client = undefined;
  }

  port(): CharonOps {
    const client = this.#client;
    if (!client) throw new SwpError("SWP_ERR_VICI_CLOSED", "charon is not connected");
    const opts = { timeoutMs: CALL_TIMEOUT_MS };
    return {
      getConns: () => vici.getConns(client, opts),
      getShared: () => vici.getShared(client, opts),
      loadConns: (sections) => vici.loadConns(client, sections, opts),
      unloadConn: (name) => vici.unloadConn(client, name, opts),
      loadShared: (secret) => vici.loadShared(client, secret, opts),
      unloadShared: (id) => vici.unloadShared(client, id, opts),
      listSas: async () => summariseSas(await vici.listSas(client, {}, opts)),
      // Asynchronous in charon (timeout -1): the outcome arrives as events, and a slow
      // peer never holds the command connection that apply and status need.
      initiate: async (tunnel, child = tunnel) => {
        this.noteInitiating(child);
        await vici.initiate(client, { child, ike: tunnel, timeoutMs: -1 }, opts);
      },
      // Idempotent: a tunnel that has no SAs is already terminated.
      terminate: async (tunnel) => {
        this.#initiatedAt.delete(tunnel);
        await vici.terminate(client, { child: tunnel, timeoutMs: -1 }, opts).catch((error) => {
          if (!/no matching SAs/.test(String(error?.message))) throw error;
        });
      },
      rekeyChild: async (childId) => {
        await vici.rekey(client, { childId: Number(childId) }, opts);
      },
    };
  }

  /** By CHILD_SA name (a tunnel's main one has the tunnel's): charon starts start_action=start. */
  noteInitiating(child: string) {
    this.#initiatedAt.set(child, Date.now());
  }

  isInitiating(child: string): boolean {
    return Date.now() - (this.#initiatedAt.get(child) ?? 0) < INITIATING_MS;
  }

  async #poll() {
    const started = Date.now();
    let warned = false;
    while (!this.#closed && !this.#client) {
      try {
        const client = await ViciClient.connect(this.#opts.viciPath, { timeoutMs: 2000 });
        const version = await vici.version(client, { timeoutMs: 2000 });
        // A charon that cannot say (or a clock gone odd) counts from now: a shorter run, so
        // at worst a crash is taken for a crash loop.
        const now = Date.now();
        const since = await vici.startedAt(client, { timeoutMs: 2000 }).catch(() => now);
        if (this.#closed) {
          client.close();
          return;
        }
        this.#startedAt = Math.min(since, now);
        this.#attach(client, version);
        return;
      } catch (error) {
        const waited = Date.now() - started;
        if (waited >= this.#opts.connectTimeoutMs && !warned) {
          warned = true;
          this.#log.error(
            { err: error, viciPath: this.#opts.viciPath, waitedMs: waited },
            "charon's VICI socket does not answer; still trying",
          );
        }
        await sleep(waited < this.#opts.connectTimeoutMs ? FAST_POLL_MS : SLOW_POLL_MS);
      }
    }
  }

  #attach(client: ViciClient, version: string) {
    this.#client = client;
    this.#version = version;
    this.#log.info({ version }, "connected to charon over VICI");
    client.onClose(() => {
      if (this.#client === client) this.lost();
    });
    // Events only prompt a re-read of the SAs; the periodic resync covers any that are missed.
    this.#events = new EventWatch({
      subscribe: () => client.subscribe(EVENTS),
      onEvent: this.#opts.onEvent,
      onResubscribed: this.#opts.onEvent,
      logger: this.#log,
    });
    this.#opts.onReady();
  }
}

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
