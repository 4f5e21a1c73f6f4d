import type { Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import type { ProbeReading } from "../../../common/agent-api/status.ts";
import type { Logger } from "../../../common/logger.ts";
import type { ResolvedProbe } from "../config/types.ts";
import { decodeProbePacket, encodeProbePacket } from "./probe-packet.ts";
import { bindUdpSocket, closeUdpSocket } from "./probe-responder.ts";
import { ProbeTally } from "./probe-tally.ts";

/** A request sent and not yet answered or lost. */
interface Pending {
  seq: number;
  sentNs: bigint;
  timer: NodeJS.Timeout;
}

/**
 * Slots for outstanding requests, indexed by sequence number modulo their count. timeoutMs is
 * at most intervalMs (verify.ts), so one request, two at the turn of an interval, is ever
 * outstanding. Not a Map: V8 resizes a Map's table as entries come and go, allocating the new
 * table where the old one lives, in the old generation for a prober's long-lived Map; 50 probers
 * adding and deleting 10 times a second made ~80 KB/s of old-generation garbage, an idle agent's
 * heap growing 7 MB between full GCs (decision 0008).
 */
const PENDING_SLOTS = 8;
const slotOf = (seq: number) => seq % PENDING_SLOTS;

/** Without source, the socket binds the wildcard address and the kernel picks the source. */
export type ProbeTarget = Omit<ResolvedProbe, "source"> & { source?: string | undefined };

export interface ProberOptions extends ProbeTarget {
  log: Logger;
  /** How many recent results loss and mean RTT are computed over. */
  windowSize?: number;
}

/**
 * Sends a request every intervalMs from the source to the far agent's address: for a
 * tunnel, inside to inside so the packets cross the tunnel; for a path, along the VPC's
 * routes. Every request ends as exactly one result: a reply before timeoutMs, or a loss
 * (timeout, bind or send error).
 */
export class Prober {
  readonly #opts: ProbeTarget;
  readonly #log: Logger;
  readonly #tally: ProbeTally;
  /**
   * Random per prober: replies addressed to an earlier run of the agent don't match. Not a
   * secret (it crosses the tunnel in clear), so Math.random, not node:crypto (decision 0008).
   */
  readonly #session = Math.floor(Math.random() * 2 ** 32);
  /** Outstanding requests, in the slot of their sequence number (slotOf). */
  readonly #pending: (Pending | undefined)[] = new Array(PENDING_SLOTS).fill(undefined);
  #seq = 0;
  #socket: Promise<Socket> | null = null;
  #interval: NodeJS.Timeout | undefined;
  #lastError: string | null = null;

  constructor(options: ProberOptions) {
    const { log, windowSize, ...probe } = options;
    this.#opts = probe;
    this.#log = log.child({ component: "prober", target: probe.target, port: probe.port });
    this.#tally = new ProbeTally(probe, this.#log, windowSize);
  }

  start(): void {
    if (this.#interval) return;
    this.#tick();
    this.#interval = setInterval(() => this.#tick(), this.#opts.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.#interval);
    this.#interval = undefined;
    for (const pending of this.#pending) clearTimeout(pending?.timer);
    this.#pending.fill(undefined);
    const bound = this.#socket;
    this.#socket = null;
    const socket = await bound?.catch(() => null);
    if (socket) await closeUdpSocket(socket);
  }

  snapshot(): ProbeReading {
    return this.#tally.snapshot();
  }

  /** Called with the new snapshot whenever the state changes; returns an unsubscribe. */
  onChange(listener: (status: ProbeReading) => void): () => void {
    return this.#tally.onChange(listener);
  }

  #tick(): void {
    this.#seq = (this.#seq + 1) >>> 0;
    const seq = this.#seq;
    const sentNs = process.hrtime.bigint();
    // A request still in the slot (not possible while timeoutMs <= intervalMs) is lost.
    const stale = this.#pending[slotOf(seq)];
    if (stale) this.#settle(stale.seq, null);
    const timer = setTimeout(() => this.#settle(seq, null), this.#opts.timeoutMs);
    this.#pending[slotOf(seq)] = { seq, sentNs, timer };
    this.#tally.sent();
    const packet = encodeProbePacket({ type: "request", session: this.#session, seq, sentNs });
    void this.#send(packet).then((err) => {
      if (!this.#outstanding(seq)) return; // stopped, or already answered or timed out
      this.#noteError(err);
      // No route or no source address while the tunnel is down: a lost probe, not a crash.
      if (err) this.#settle(seq, null);
    });
  }

  /** Resolves to the bind or send error, or null once the kernel took the datagram. */
  async #send(packet: Buffer): Promise<NodeJS.ErrnoException | null> {
    const { port, target } = this.#opts;
    try {
      const socket = await this.#bound();
      await new Promise<void>((resolve, reject) =>
        socket.send(packet, port, target, (err) => (err ? reject(err) : resolve())),
      );
      return null;
    } catch (err) {
      return err as NodeJS.ErrnoException;
    }
  }

  #bound(): Promise<Socket> {
    if (this.#socket) return this.#socket;
    const { source, target } = this.#opts;
    const address = source ?? (isIPv6(target) ? "::" : "0.0.0.0");
    const bound = bindUdpSocket(address, 0).then((socket) => {
      socket.on("message", (msg) => this.#onMessage(msg));
      socket.on("error", (err) => {
        this.#log.warn({ err }, "probe socket error; rebinding");
        if (this.#socket === bound) this.#socket = null;
        void closeUdpSocket(socket);
      });
      return socket;
    });
    // A failed bind is retried on the next tick.
    bound.catch(() => {
      if (this.#socket === bound) this.#socket = null;
    });
    this.#socket = bound;
    return bound;
  }

  #onMessage(msg: Buffer): void {
    const decoded = decodeProbePacket(msg);
    if (!decoded.ok) return;
    const { type, session, seq, sentNs } = decoded.packet;
    if (type !== "reply" || session !== this.#session) return;
    if (this.#outstanding(seq)?.sentNs !== sentNs) return;
    this.#settle(seq, Number(process.hrtime.bigint() - sentNs) / 1e6);
  }

  #outstanding(seq: number): Pending | undefined {
    const pending = this.#pending[slotOf(seq)];
    return pending?.seq === seq ? pending : undefined;
  }

  #settle(seq: number, rttMs: number | null): void {
    const pending = this.#outstanding(seq);
    if (!pending) return; // already settled, or stopped
    clearTimeout(pending.timer);
    this.#pending[slotOf(seq)] = undefined;
    this.#tally.record(rttMs);
  }

  /** Logs a send or bind error when it starts or changes, not on every interval. */
  #noteError(err: NodeJS.ErrnoException | null): void {
    const code = err ? (err.code ?? err.message) : null;
    if (code === this.#lastError) return;
    this.#lastError = code;
    if (err) this.#log.warn({ err }, "probe send failing");
    else this.#log.info("probe send working");
  }
}
