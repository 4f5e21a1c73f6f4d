import { randomInt } from "node:crypto";
import type { Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import type { ProbeReading } from "../../../common/agent-api/status.ts";
import type { Logger } from "../../../common/logger.ts";
import type { ResolvedProbe } from "../config/types.ts";
import { decodeProbePacket, encodeProbePacket } from "./probe-packet.ts";
import { bindUdpSocket, closeUdpSocket } from "./probe-responder.ts";
import { ProbeTally } from "./probe-tally.ts";

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
  /** Random per prober: replies addressed to an earlier run of the agent don't match. */
  readonly #session = randomInt(0, 2 ** 32);
  /** Outstanding requests by sequence number. */
  readonly #pending = new Map<number, { sentNs: bigint; timer: NodeJS.Timeout }>();
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
    for (const { timer } of this.#pending.values()) clearTimeout(timer);
    this.#pending.clear();
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
    const timer = setTimeout(() => this.#settle(seq, null), this.#opts.timeoutMs);
    this.#pending.set(seq, { sentNs, timer });
    this.#tally.sent();
    const packet = encodeProbePacket({ type: "request", session: this.#session, seq, sentNs });
    void this.#send(packet).then((err) => {
      if (!this.#pending.has(seq)) return; // stopped, or already answered or timed out
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
    const pending = this.#pending.get(seq);
    if (pending?.sentNs !== sentNs) return;
    this.#settle(seq, Number(process.hrtime.bigint() - sentNs) / 1e6);
  }

  #settle(seq: number, rttMs: number | null): void {
    const pending = this.#pending.get(seq);
    if (!pending) return; // already settled, or stopped
    clearTimeout(pending.timer);
    this.#pending.delete(seq);
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
