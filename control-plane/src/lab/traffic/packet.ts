/**
 * The lab's traffic datagram, big-endian:
 *
 *   offset  0  magic "SWPT"
 *           4  version, u8 (1)
 *           5  name length in bytes, u8 (at most 64)
 *           6  two zero bytes
 *           8  run id, u32: random per sender process, so a restarted sender is a new stream
 *          12  sequence, u32: one per send attempt, from 0
 *          16  send time, wall-clock ms (float64): comparable across containers on one kernel
 *          24  the sender's name, UTF-8
 */

export const STREAM_HEADER_SIZE = 24;
export const MAX_NAME_BYTES = 64;

const MAGIC = Buffer.from("SWPT", "ascii");
const VERSION = 1;

export interface StreamPacket {
  name: string;
  run: number;
  seq: number;
  sentMs: number;
}

/** Throws RangeError when a field does not fit; senders build packets themselves. */
export function encodeStreamPacket(p: StreamPacket): Buffer {
  const name = Buffer.from(p.name, "utf8");
  if (name.length > MAX_NAME_BYTES)
    throw new RangeError(`name is ${name.length} bytes, at most ${MAX_NAME_BYTES}`);
  const buf = Buffer.alloc(STREAM_HEADER_SIZE + name.length);
  MAGIC.copy(buf, 0);
  buf.writeUInt8(VERSION, 4);
  buf.writeUInt8(name.length, 5);
  buf.writeUInt32BE(p.run, 8);
  buf.writeUInt32BE(p.seq, 12);
  buf.writeDoubleBE(p.sentMs, 16);
  name.copy(buf, STREAM_HEADER_SIZE);
  return buf;
}

/** The packet, or null for anything else that reaches the port. */
export function decodeStreamPacket(data: Uint8Array): StreamPacket | null {
  if (data.length < STREAM_HEADER_SIZE) return null;
  const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
  if (!buf.subarray(0, 4).equals(MAGIC) || buf[4] !== VERSION) return null;
  if (buf[6] !== 0 || buf[7] !== 0) return null;
  if (buf.length !== STREAM_HEADER_SIZE + (buf[5] ?? 0)) return null;
  const sentMs = buf.readDoubleBE(16);
  if (!Number.isFinite(sentMs)) return null;
  return {
    name: buf.toString("utf8", STREAM_HEADER_SIZE),
    run: buf.readUInt32BE(8),
    seq: buf.readUInt32BE(12),
    sentMs,
  };
}
