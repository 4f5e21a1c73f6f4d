/**
 * VICI message and packet encoding (strongSwan src/libcharon/plugins/vici/README.md).
 * Pure: bytes in, values out. Length framing lives in framer.ts.
 */
import { SwpError } from "../../../common/errors.ts";
import type { DecodedMessage, DecodedValue, ViciMessage, ViciScalar } from "./message.ts";

export const ElementType = {
  SECTION_START: 1,
  SECTION_END: 2,
  KEY_VALUE: 3,
  LIST_START: 4,
  LIST_ITEM: 5,
  LIST_END: 6,
} as const;

export const PacketType = {
  CMD_REQUEST: 0,
  CMD_RESPONSE: 1,
  CMD_UNKNOWN: 2,
  EVENT_REGISTER: 3,
  EVENT_UNREGISTER: 4,
  EVENT_CONFIRM: 5,
  EVENT_UNKNOWN: 6,
  EVENT: 7,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

const PACKET_NAMES = Object.fromEntries(Object.entries(PacketType).map(([k, v]) => [v, k]));

/** Packet types followed by an 8-bit length-prefixed name. */
const NAMED: ReadonlySet<number> = new Set([
  PacketType.CMD_REQUEST,
  PacketType.EVENT_REGISTER,
  PacketType.EVENT_UNREGISTER,
  PacketType.EVENT,
]);

const MAX_NAME = 0xff;
const MAX_VALUE = 0xffff;

export interface OutgoingPacket {
  type: PacketType;
  name?: string;
  message?: ViciMessage;
}

export interface DecodedPacket {
  type: PacketType;
  /** Present exactly for named packet types. */
  name?: string;
  /** Empty for packet types that carry no message. */
  message: DecodedMessage;
}

export function packetTypeName(type: number): string {
  return PACKET_NAMES[type] ?? `type ${type}`;
}

function protocolError(message: string): SwpError {
  return new SwpError("SWP_ERR_VICI_PROTOCOL", message);
}

// Non-fatal: charon's values are not guaranteed UTF-8, and decoding must never throw on them.
const fromUtf8 = new TextDecoder("utf-8");

function tooLong(what: string, length: number, max: number): SwpError {
  return protocolError(`${what} is ${length} bytes, the VICI limit is ${max}`);
}

/**
 * Writes straight into one growing buffer: the wire format is built on every apply for
 * hundreds of connections (and hashed to detect changes), so no per-element allocations.
 */
class Writer {
  #buf = Buffer.allocUnsafe(512);
  #at = 0;

  #room(n: number) {
    if (this.#at + n <= this.#buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#at + n));
    this.#buf.copy(bigger, 0, 0, this.#at);
    this.#buf = bigger;
  }

  byte(value: number) {
    this.#room(1);
    this.#buf[this.#at++] = value;
  }

  /** A name behind its 8-bit length; `what` names it in an error, built only on failure. */
  name(name: string, what: () => string) {
    const length = Buffer.byteLength(name, "utf8");
    if (length > MAX_NAME) throw tooLong(what(), length, MAX_NAME);
    this.#room(1 + length);
    this.#buf[this.#at++] = length;
    this.#at += this.#buf.write(name, this.#at, "utf8");
  }

  /** A string or blob behind its 16-bit big-endian length. */
  value(value: ViciScalar, what: () => string) {
    const length = typeof value === "string" ? Buffer.byteLength(value, "utf8") : value.length;
    if (length > MAX_VALUE) throw tooLong(what(), length, MAX_VALUE);
    this.#room(2 + length);
    this.#at = this.#buf.writeUInt16BE(length, this.#at);
    if (typeof value === "string") this.#at += this.#buf.write(value, this.#at, "utf8");
    else {
      this.#buf.set(value, this.#at);
      this.#at += length;
    }
  }

  finish(): Uint8Array {
    // A plain Uint8Array of exactly the bytes written, not a view of the scratch buffer.
    const out = new Uint8Array(this.#at);
    out.set(this.#buf.subarray(0, this.#at));
    return out;
  }
}

function isScalar(value: unknown): value is ViciScalar {
  return typeof value === "string" || value instanceof Uint8Array;
}

function writeSection(w: Writer, msg: ViciMessage, path: string) {
  for (const key in msg) {
    if (!Object.hasOwn(msg, key)) continue;
    const value = msg[key];
    const where = () => (path ? `${path}.${key}` : key);
    if (isScalar(value)) {
      w.byte(ElementType.KEY_VALUE);
      w.name(key, () => `name "${where()}"`);
      // The value itself is never echoed: it may be a secret.
      w.value(value, () => `value of "${where()}"`);
    } else if (Array.isArray(value)) {
      w.byte(ElementType.LIST_START);
      w.name(key, () => `name "${where()}"`);
      for (let i = 0; i < value.length; i++) {
        const item = value[i];
        if (!isScalar(item)) {
          throw protocolError(`list item ${where()}[${i}] must be a string or bytes`);
        }
        w.byte(ElementType.LIST_ITEM);
        w.value(item, () => `list item ${where()}[${i}]`);
      }
      w.byte(ElementType.LIST_END);
    } else if (typeof value === "object" && value !== null) {
      w.byte(ElementType.SECTION_START);
      w.name(key, () => `name "${where()}"`);
      writeSection(w, value, path ? `${path}.${key}` : key);
      w.byte(ElementType.SECTION_END);
    } else {
      throw protocolError(`"${where()}" has unsupported type ${typeof value}`);
    }
  }
}

export function encodeMessage(msg: ViciMessage): Uint8Array {
  const w = new Writer();
  writeSection(w, msg, "");
  return w.finish();
}

export function encodePacket(packet: OutgoingPacket): Uint8Array {
  const w = new Writer();
  w.byte(packet.type);
  const named = NAMED.has(packet.type);
  if (named !== (packet.name !== undefined)) {
    throw protocolError(
      `${packetTypeName(packet.type)} packets ${named ? "need" : "take no"} name`,
    );
  }
  if (packet.name !== undefined) w.name(packet.name, () => "packet name");
  if (packet.message) writeSection(w, packet.message, "");
  return w.finish();
}

/** Reads from a byte array, throwing SWP_ERR_VICI_PROTOCOL instead of running past its end. */
class Reader {
  #bytes: Uint8Array;
  #at: number;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#at = 0;
  }

  get done(): boolean {
    return this.#at >= this.#bytes.length;
  }

  get offset(): number {
    return this.#at;
  }

  byte(what: string): number {
    return this.take(1, what)[0] as number;
  }

  take(n: number, what: string): Uint8Array {
    if (this.#at + n > this.#bytes.length) {
      throw protocolError(
        `truncated ${what} at byte ${this.#at}: need ${n}, have ${this.#bytes.length - this.#at}`,
      );
    }
    const out = this.#bytes.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }

  name(what: string): string {
    return fromUtf8.decode(this.take(this.byte(`${what} length`), what));
  }

  value(what: string): string {
    const len = this.take(2, `${what} length`);
    return fromUtf8.decode(this.take(((len[0] as number) << 8) | (len[1] as number), what));
  }
}

/**
 * Own-property assignment, so a key named "__proto__" from the wire stays data. Duplicate
 * keys keep the last value: charon emits some (get-algorithms lists one algorithm once per
 * plugin providing it).
 */
function setKey(section: DecodedMessage, key: string, value: DecodedValue) {
  Object.defineProperty(section, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

export function decodeMessage(bytes: Uint8Array): DecodedMessage {
  const r = new Reader(bytes);
  const root: DecodedMessage = {};
  const stack: DecodedMessage[] = [root];
  let list: string[] | undefined;

  while (!r.done) {
    const at = r.offset;
    const type = r.byte("element type");
    const current = stack[stack.length - 1] as DecodedMessage;
    if (list && type !== ElementType.LIST_ITEM && type !== ElementType.LIST_END) {
      throw protocolError(`element type ${type} at byte ${at} inside a list`);
    }
    switch (type) {
      case ElementType.SECTION_START: {
        const section: DecodedMessage = {};
        setKey(current, r.name("section name"), section);
        stack.push(section);
        break;
      }
      case ElementType.SECTION_END:
        if (stack.length === 1) throw protocolError(`unbalanced section end at byte ${at}`);
        stack.pop();
        break;
      case ElementType.KEY_VALUE: {
        const key = r.name("key name");
        setKey(current, key, r.value(`value of "${key}"`));
        break;
      }
      case ElementType.LIST_START:
        list = [];
        setKey(current, r.name("list name"), list);
        break;
      case ElementType.LIST_ITEM:
        if (!list) throw protocolError(`list item outside a list at byte ${at}`);
        list.push(r.value("list item"));
        break;
      case ElementType.LIST_END:
        if (!list) throw protocolError(`list end outside a list at byte ${at}`);
        list = undefined;
        break;
      default:
        throw protocolError(`unknown element type ${type} at byte ${at}`);
    }
  }
  if (list) throw protocolError("message ends inside a list");
  if (stack.length > 1)
    throw protocolError(`message ends inside ${stack.length - 1} open section(s)`);
  return root;
}

export function decodePacket(bytes: Uint8Array): DecodedPacket {
  const r = new Reader(bytes);
  const type = r.byte("packet type");
  if (type > PacketType.EVENT) throw protocolError(`unknown packet type ${type}`);
  const packetType = type as PacketType;
  const name = NAMED.has(type) ? r.name("packet name") : undefined;
  const message = decodeMessage(bytes.subarray(r.offset));
  return name === undefined ? { type: packetType, message } : { type: packetType, name, message };
}
