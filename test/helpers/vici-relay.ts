import { rm } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { decodePacket, PacketType } from "../../agent/src/vici/codec.ts";
import { encodeFrame, FrameSplitter } from "../../agent/src/vici/framer.ts";

/**
 * A Unix socket between a VICI client and charon that reads what passes: it counts the
 * commands clients send and the events charon sends them, can hold back a command for a
 * while (a slow charon), and can cut event subscriptions as if charon had closed them.
 */
export class ViciRelay {
  readonly path: string;
  readonly #server: Server;
  readonly #conns = new Set<{ client: Socket; registered: Set<string> }>();
  /** Command names, in the order clients sent them. */
  readonly commands: string[] = [];
  /** Event names, in the order charon sent them (command streams such as list-sa too). */
  readonly events: string[] = [];
  /** How long to hold back each command of this name before charon sees it. */
  readonly delays = new Map<string, number>();

  private constructor(path: string, server: Server) {
    this.path = path;
    this.#server = server;
  }

  static async start(path: string, target: string): Promise<ViciRelay> {
    const server = createServer();
    const relay = new ViciRelay(path, server);
    server.on("connection", (client) => relay.#relay(client, target));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return relay;
  }

  count(command: string): number {
    return this.commands.filter((c) => c === command).length;
  }

  /** Open connections that registered `event`. */
  subscribers(event: string): number {
    return [...this.#conns].filter((c) => c.registered.has(event)).length;
  }

  /** Closes, from charon's side, every connection that registered `event`; returns how many. */
  cut(event: string): number {
    const cut = [...this.#conns].filter((c) => c.registered.has(event));
    for (const c of cut) c.client.destroy();
    return cut.length;
  }

  async close() {
    for (const c of this.#conns) c.client.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
    await rm(this.path, { force: true });
  }

  #relay(client: Socket, target: string) {
    const charon = connect(target);
    const conn = { client, registered: new Set<string>() };
    this.#conns.add(conn);
    const end = () => {
      this.#conns.delete(conn);
      client.destroy();
      charon.destroy();
    };
    client.on("close", end).on("error", end);
    charon.on("close", end).on("error", end);

    const fromCharon = new FrameSplitter();
    charon.on("data", (chunk: Buffer) => {
      for (const frame of fromCharon.push(chunk)) {
        const packet = decodePacket(frame);
        if (packet.type === PacketType.EVENT && packet.name) this.events.push(packet.name);
      }
      client.write(chunk);
    });
    // Frame by frame, in order: a held command holds back what follows it, as a busy charon would.
    const fromClient = new FrameSplitter();
    let forwarded = Promise.resolve();
    client.on("data", (chunk: Buffer) => {
      for (const frame of fromClient.push(chunk)) {
        const { type, name = "" } = decodePacket(frame);
        if (type === PacketType.CMD_REQUEST) this.commands.push(name);
        if (type === PacketType.EVENT_REGISTER) conn.registered.add(name);
        const delay = type === PacketType.CMD_REQUEST ? (this.delays.get(name) ?? 0) : 0;
        forwarded = forwarded
          .then(() => delay && new Promise((resolve) => setTimeout(resolve, delay)))
          .then(() => {
            if (!charon.destroyed) charon.write(encodeFrame(frame));
          });
      }
    });
  }
}
