/**
 * A VICI session with charon over its Unix socket, in the style of govici: call() for
 * request/response commands, stream() for commands that stream events before their
 * response, subscribe() for long-lived event registrations on a connection of their own.
 */
import { SwpError } from "../../../common/errors.ts";
import { AsyncQueue } from "./async-queue.ts";
import { type DecodedPacket, type OutgoingPacket, PacketType, packetTypeName } from "./codec.ts";
import type { DecodedMessage, ViciMessage } from "./message.ts";
import { type CloseListener, closedError, Transport } from "./transport.ts";

export interface ConnectOptions {
  /** How long the socket may take to accept. Default 5000 ms. */
  timeoutMs?: number;
  /** Default timeout of call() and stream() when they give none. Default 30000 ms. */
  callTimeoutMs?: number;
}

export interface CallOptions {
  signal?: AbortSignal;
  /**
   * Covers waiting for earlier commands on this connection too, and for stream() the whole
   * stream, however slowly it is consumed.
   */
  timeoutMs?: number;
}

export interface SubscribeOptions {
  /**
   * Events held for a slow consumer. One more and the subscription fails: the consumer
   * gets every event buffered so far, then an SWP_ERR_VICI_CLOSED error (details.reason
   * "overflow") telling it to resubscribe and resynchronise, rather than silently missing
   * events or stalling charon. Default 1024.
   */
  maxBuffered?: number;
}

export interface ViciEvent {
  event: string;
  message: DecodedMessage;
}

export type { CloseListener } from "./transport.ts";

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_CALL_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_BUFFERED = 1024;
/** A stream stops reading the socket while this many events wait for its consumer. */
const STREAM_HIGH_WATER = 256;

/** One command's claim on the connection, from the moment it is issued until it completes. */
interface Turn {
  /** Set when the timeout or abort signal fired; the command must fail with it. */
  readonly error: Error | undefined;
  release(): void;
}

function commandResult(cmd: string, reply: DecodedPacket): DecodedMessage {
  if (reply.type === PacketType.CMD_UNKNOWN) {
    throw new SwpError("SWP_ERR_VICI_COMMAND", `charon does not know the VICI command "${cmd}"`, {
      command: cmd,
    });
  }
  if (reply.message.success === "no") {
    const errmsg = typeof reply.message.errmsg === "string" ? reply.message.errmsg : "";
    throw new SwpError("SWP_ERR_VICI_COMMAND", `${cmd} failed: ${errmsg || "no reason given"}`, {
      command: cmd,
      errmsg,
    });
  }
  return reply.message;
}

export class ViciClient {
  readonly #path: string;
  readonly #options: ConnectOptions;
  readonly #transport: Transport;
  /** Commands waiting for the connection, in the order they were issued. */
  readonly #waiting: { resolve(): void; reject(e: Error): void }[] = [];
  #busy = false;
  #reply: { resolve(p: DecodedPacket): void; reject(e: Error): void } | undefined;
  #onEvent: ((event: string, message: DecodedMessage) => void) | undefined;

  static async connect(path: string, options: ConnectOptions = {}): Promise<ViciClient> {
    const transport = await Transport.open(path, options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    return new ViciClient(path, options, transport);
  }

  private constructor(path: string, options: ConnectOptions, transport: Transport) {
    this.#path = path;
    this.#options = options;
    this.#transport = transport;
    transport.onPacket = (packet) => this.#dispatch(packet);
    transport.onClose((reason) => {
      this.#reply?.reject(reason);
      this.#reply = undefined;
      for (const waiter of this.#waiting.splice(0)) waiter.reject(reason);
    });
  }

  /** Called once when the connection closes for any reason; EOF means charon is gone. */
  onClose(listener: CloseListener) {
    this.#transport.onClose(listener);
  }

  /** Closes the connection; commands not yet answered reject with SWP_ERR_VICI_CLOSED. */
  close() {
    this.#transport.close(closedError("the VICI connection was closed by the client"));
  }

  /** Runs one command; a response with success=no rejects with SWP_ERR_VICI_COMMAND. */
  async call(
    cmd: string,
    msg: ViciMessage = {},
    options: CallOptions = {},
  ): Promise<DecodedMessage> {
    return this.#exclusive(cmd, options, async () =>
      commandResult(
        cmd,
        await this.#request({ type: PacketType.CMD_REQUEST, name: cmd, message: msg }, [
          PacketType.CMD_RESPONSE,
          PacketType.CMD_UNKNOWN,
        ]),
      ),
    );
  }

  /**
   * Runs a streaming command (list-sas/list-sa, list-conns/list-conn, initiate/control-log):
   * registers `event`, yields its events until the command's response, then unregisters.
   * The generator's return value is the response.
   * Nothing is sent until iteration starts. The connection is held until the stream ends;
   * leaving the loop early still reads the rest of the stream so the connection stays usable.
   */
  async *stream(
    cmd: string,
    event: string,
    msg: ViciMessage = {},
    options: CallOptions = {},
  ): AsyncGenerator<DecodedMessage, DecodedMessage, undefined> {
    const turn = await this.#take(cmd, options);
    try {
      return yield* this.#streamEvents(cmd, event, msg);
    } catch (err) {
      throw turn.error ?? err;
    } finally {
      turn.release();
    }
  }

  /**
   * Registers `events` on a new connection of their own, so a slow subscriber never holds
   * up commands. The iterator ends when the connection closes (or close() is called).
   */
  async subscribe(events: string[], options: SubscribeOptions = {}): Promise<Subscription> {
    const max = options.maxBuffered ?? DEFAULT_MAX_BUFFERED;
    const conn = await ViciClient.connect(this.#path, this.#options);
    const queue = new AsyncQueue<ViciEvent>();
    conn.#onEvent = (event, message) => {
      if (queue.size < max) {
        queue.push({ event, message });
        return;
      }
      queue.finish(
        new SwpError(
          "SWP_ERR_VICI_CLOSED",
          `VICI subscription dropped: more than ${max} events were left unread; resubscribe and resynchronise`,
          { reason: "overflow", maxBuffered: max },
        ),
      );
      conn.close();
    };
    conn.onClose(() => queue.finish());
    try {
      await conn.#exclusive(`register ${events.join(", ")}`, {}, async () => {
        for (const event of events) await conn.#event(PacketType.EVENT_REGISTER, event);
      });
    } catch (err) {
      conn.close();
      throw err;
    }
    return new Subscription(queue, () => conn.close());
  }

  async *#streamEvents(cmd: string, event: string, msg: ViciMessage) {
    await this.#event(PacketType.EVENT_REGISTER, event);
    const events = new AsyncQueue<DecodedMessage>();
    this.#onEvent = (name, message) => {
      if (name !== event) return;
      events.push(message);
      // The connection is ours until the response, so pausing the reader loses nothing.
      if (events.size >= STREAM_HIGH_WATER) this.#transport.pause();
    };
    // charon sends all of a command's events before its response, so the response ends the queue.
    const response = this.#request({ type: PacketType.CMD_REQUEST, name: cmd, message: msg }, [
      PacketType.CMD_RESPONSE,
      PacketType.CMD_UNKNOWN,
    ]).then(
      (reply) => {
        events.finish();
        return reply;
      },
      (err: Error) => {
        events.finish(err);
        return undefined;
      },
    );
    try {
      for (;;) {
        const next = await events.next();
        if (next.done) break;
        if (events.size < STREAM_HIGH_WATER / 2) this.#transport.resume();
        yield next.value;
      }
      // The queue only ends cleanly once the response has arrived.
      return commandResult(cmd, (await response) as DecodedPacket);
    } finally {
      this.#onEvent = undefined;
      this.#transport.resume();
      await response;
      if (!this.#transport.closed) await this.#event(PacketType.EVENT_UNREGISTER, event);
    }
  }

  async #event(
    type: typeof PacketType.EVENT_REGISTER | typeof PacketType.EVENT_UNREGISTER,
    event: string,
  ) {
    const reply = await this.#request({ type, name: event }, [
      PacketType.EVENT_CONFIRM,
      PacketType.EVENT_UNKNOWN,
    ]);
    if (reply.type === PacketType.EVENT_UNKNOWN) {
      throw new SwpError(
        "SWP_ERR_VICI_COMMAND",
        `charon refused to (un)register the VICI event "${event}"`,
        {
          event,
        },
      );
    }
  }

  /** Sends one packet and waits for its reply; the caller must hold the connection. */
  async #request(packet: OutgoingPacket, expected: PacketType[]): Promise<DecodedPacket> {
    const reply = await new Promise<DecodedPacket>((resolve, reject) => {
      this.#transport.send(packet);
      this.#reply = { resolve, reject };
    });
    if (!expected.includes(reply.type)) {
      const err = new SwpError(
        "SWP_ERR_VICI_PROTOCOL",
        `charon answered ${packetTypeName(packet.type)} with ${packetTypeName(reply.type)}`,
      );
      this.#transport.close(err);
      throw err;
    }
    return reply;
  }

  #dispatch(packet: DecodedPacket) {
    if (packet.type === PacketType.EVENT) {
      this.#onEvent?.(packet.name ?? "", packet.message);
      return;
    }
    const reply = this.#reply;
    if (!reply) {
      this.#transport.close(
        new SwpError(
          "SWP_ERR_VICI_PROTOCOL",
          `unsolicited ${packetTypeName(packet.type)} from charon`,
        ),
      );
      return;
    }
    this.#reply = undefined;
    reply.resolve(packet);
  }

  /** Runs `body` holding the connection; a timeout or abort replaces whatever error it gets. */
  async #exclusive<T>(label: string, options: CallOptions, body: () => Promise<T>): Promise<T> {
    const turn = await this.#take(label, options);
    try {
      return await body();
    } catch (err) {
      throw turn.error ?? err;
    } finally {
      turn.release();
    }
  }

  /** Waits until the connection is free for `label`, arming its timeout and abort signal. */
  async #take(label: string, options: CallOptions): Promise<Turn> {
    options.signal?.throwIfAborted();
    const timeoutMs = options.timeoutMs ?? this.#options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    let error: Error | undefined;
    let holding = false;
    let cancelWait: ((err: Error) => void) | undefined;
    const fire = (err: Error) => {
      if (error) return;
      error = err;
      if (!holding) {
        cancelWait?.(err);
        return;
      }
      // VICI replies carry no request id: a late reply to an abandoned command would be
      // taken as the reply to the next one, so the connection can no longer be trusted.
      this.#transport.close(
        closedError(`the VICI connection was closed because ${label} was abandoned`, err),
      );
    };
    const timer = setTimeout(
      () =>
        fire(
          new SwpError(
            "SWP_ERR_VICI_TIMEOUT",
            `VICI ${label} did not complete within ${timeoutMs} ms`,
            {
              command: label,
              timeoutMs,
            },
          ),
        ),
      timeoutMs,
    );
    const onAbort = () => fire(options.signal?.reason);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const disarm = () => {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    };
    try {
      await this.#acquire((cancel) => {
        cancelWait = cancel;
      });
    } catch (err) {
      disarm();
      throw error ?? err;
    }
    if (error) {
      disarm();
      this.#release();
      throw error;
    }
    holding = true;
    return {
      get error() {
        return error;
      },
      release: () => {
        disarm();
        this.#release();
      },
    };
  }

  #acquire(onWaiting: (cancel: (err: Error) => void) => void): Promise<void> {
    const closed = this.#transport.closed;
    if (closed) return Promise.reject(closed);
    if (!this.#busy) {
      this.#busy = true;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      this.#waiting.push(waiter);
      onWaiting((err) => {
        const at = this.#waiting.indexOf(waiter);
        if (at >= 0) this.#waiting.splice(at, 1);
        reject(err);
      });
    });
  }

  /** Hands the connection straight to the next waiter, so issue order is kept. */
  #release() {
    const next = this.#waiting.shift();
    if (next) next.resolve();
    else this.#busy = false;
  }
}

/** Events from subscribe(); iterate once. */
export class Subscription implements AsyncIterable<ViciEvent> {
  readonly #queue: AsyncQueue<ViciEvent>;
  readonly #closeConnection: () => void;

  constructor(queue: AsyncQueue<ViciEvent>, closeConnection: () => void) {
    this.#queue = queue;
    this.#closeConnection = closeConnection;
  }

  /** Ends the iterator at once, dropping unread events, and closes the connection. */
  close() {
    this.#queue.discard();
    this.#closeConnection();
  }

  [Symbol.asyncIterator](): AsyncIterator<ViciEvent, undefined> {
    return {
      next: () => this.#queue.next(),
      return: async () => {
        this.close();
        return { value: undefined, done: true };
      },
    };
  }
}
