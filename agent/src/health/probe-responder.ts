import { createSocket, type Socket } from "node:dgram";
import { type AddressInfo, isIPv6 } from "node:net";
import type { Logger } from "../../../common/logger.ts";
import { decodeProbePacket, encodeProbePacket } from "./probe-packet.ts";

/** Binds a UDP socket of the address's family; rejects with the bind error (e.g. EADDRNOTAVAIL). */
export function bindUdpSocket(address: string, port: number): Promise<Socket> {
  const socket = createSocket(isIPv6(address) ? "udp6" : "udp4");
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      socket.close();
      reject(err);
    };
    socket.once("error", fail);
    socket.bind({ address, port }, () => {
      socket.off("error", fail);
      resolve(socket);
    });
  });
}

export function closeUdpSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

export interface ProbeResponderOptions {
  address: string;
  port: number;
  log: Logger;
  /** Delay between bind attempts, doubling from minMs to at most maxMs. */
  retry?: { minMs: number; maxMs: number };
}

/**
 * Answers probe requests on the inside address. That address may appear only after the
 * agent starts (added by cloud-init, a route script, or failover), so binding is retried
 * until stop() instead of failing start().
 */
export class ProbeResponder {
  readonly #address: string;
  readonly #port: number;
  readonly #log: Logger;
  readonly #retry: { minMs: number; maxMs: number };
  /** Identity of the current start(); callbacks from an older run only clean up. */
  #run: object | null = null;
  #socket: Socket | null = null;
  #binding: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ProbeResponderOptions) {
    this.#address = options.address;
    this.#port = options.port;
    this.#log = options.log.child({ component: "probe-responder" });
    this.#retry = options.retry ?? { minMs: 100, maxMs: 5000 };
  }

  start(): void {
    if (this.#run) return;
    const run = {};
    this.#run = run;
    this.#attempt(run, this.#retry.minMs, null);
  }

  async stop(): Promise<void> {
    this.#run = null;
    clearTimeout(this.#timer);
    await this.#binding;
    const socket = this.#socket;
    this.#socket = null;
    if (socket) await closeUdpSocket(socket);
  }

  /** The bound address, or null while not (yet) listening. */
  address(): AddressInfo | null {
    return this.#socket?.address() ?? null;
  }

  #attempt(run: object, delayMs: number, lastCode: string | null): void {
    const where = { address: this.#address, port: this.#port };
    this.#binding = bindUdpSocket(this.#address, this.#port).then(
      async (socket) => {
        if (this.#run !== run) return closeUdpSocket(socket);
        socket.on("message", (msg, peer) => this.#answer(socket, msg, peer));
        socket.on("error", (err) =>
          this.#log.warn({ err, ...where }, "probe responder socket error"),
        );
        this.#socket = socket;
        this.#log.info(where, "probe responder listening");
      },
      (err: NodeJS.ErrnoException) => {
        if (this.#run !== run) return;
        // One line per kind of failure, not one per attempt: a missing address may last hours.
        const code = err.code ?? err.message;
        if (code !== lastCode) {
          this.#log.warn(
            { err, ...where },
            "probe responder cannot bind yet; retrying with backoff",
          );
        }
        const nextDelay = Math.min(delayMs * 2, this.#retry.maxMs);
        this.#timer = setTimeout(() => this.#attempt(run, nextDelay, code), delayMs);
      },
    );
  }

  #answer(socket: Socket, msg: Buffer, peer: AddressInfo): void {
    const decoded = decodeProbePacket(msg);
    if (!decoded.ok || decoded.packet.type !== "request") return;
    // Same fixed size as the request, so a spoofed source gains no amplification.
    const reply = encodeProbePacket({ ...decoded.packet, type: "reply" });
    socket.send(reply, peer.port, peer.address, (err) => {
      if (err) this.#log.debug({ err, peer: peer.address }, "probe reply not sent");
    });
  }
}
