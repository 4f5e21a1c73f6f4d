import { connect as netConnect, type Socket } from "node:net";
import { SwpError } from "../../../common/errors.ts";
import { type DecodedPacket, decodePacket, encodePacket, type OutgoingPacket } from "./codec.ts";
import { encodeFrame, FrameSplitter } from "./framer.ts";

export type CloseListener = (reason: SwpError) => void;

export function closedError(message: string, cause?: unknown): SwpError {
  return new SwpError("SWP_ERR_VICI_CLOSED", message, undefined, { cause });
}

/** One socket: framing, packet decoding, close notification. */
export class Transport {
  readonly #socket: Socket;
  readonly #frames = new FrameSplitter();
  readonly #closeListeners: CloseListener[] = [];
  #closed: SwpError | undefined;
  onPacket: (packet: DecodedPacket) => void = () => {};

  static open(path: string, timeoutMs: number): Promise<Transport> {
    return new Promise((resolve, reject) => {
      const socket = netConnect(path);
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(closedError(`cannot connect to the VICI socket ${path}: ${err.message}`, err));
      };
      const timer = setTimeout(() => {
        socket.off("error", fail);
        socket.destroy();
        reject(
          new SwpError(
            "SWP_ERR_VICI_TIMEOUT",
            `the VICI socket ${path} did not accept within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      socket.once("error", fail);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.off("error", fail);
        resolve(new Transport(socket));
      });
    });
  }

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on("data", (chunk: Buffer) => this.#receive(chunk));
    socket.on("error", (err) => this.close(closedError(`VICI socket error: ${err.message}`, err)));
    socket.on("close", () => this.close(closedError("charon closed the VICI connection")));
  }

  get closed(): SwpError | undefined {
    return this.#closed;
  }

  #receive(chunk: Uint8Array) {
    try {
      for (const frame of this.#frames.push(chunk)) {
        if (this.#closed) return;
        this.onPacket(decodePacket(frame));
      }
    } catch (err) {
      this.close(err as SwpError);
    }
  }

  /** Encodes before writing, so a message that cannot be encoded leaves the connection intact. */
  send(packet: OutgoingPacket) {
    if (this.#closed) throw this.#closed;
    this.#socket.write(encodeFrame(encodePacket(packet)));
  }

  pause() {
    this.#socket.pause();
  }

  resume() {
    this.#socket.resume();
  }

  onClose(listener: CloseListener) {
    const reason = this.#closed;
    if (reason) queueMicrotask(() => listener(reason));
    else this.#closeListeners.push(listener);
  }

  close(reason: SwpError) {
    if (this.#closed) return;
    this.#closed = reason;
    this.#socket.destroy();
    for (const listener of this.#closeListeners.splice(0)) listener(reason);
  }
}
