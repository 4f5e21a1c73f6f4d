/**
 * The probe echo protocol: one fixed-size UDP datagram, big-endian.
 *
 *   offset  0  magic "SWP1"
 *           4  type: 1 request, 2 reply
 *           5  three zero bytes
 *           8  session id, u32
 *          12  sequence, u32
 *          16  sender's monotonic clock in ns, u64 (echoed back, so RTT needs no lookup)
 *
 * A fixed size keeps the responder from ever amplifying: a reply is a request with one
 * byte changed. The session id is random per prober so replies to a previous run of the
 * agent are not mistaken for answers to this one.
 */

export const PROBE_PACKET_SIZE = 24;

const MAGIC = Buffer.from("SWP1", "ascii");
const TYPE_CODES = { request: 1, reply: 2 } as const;

export type ProbePacketType = keyof typeof TYPE_CODES;

export interface ProbePacket {
  type: ProbePacketType;
  session: number;
  seq: number;
  sentNs: bigint;
}

export type DecodeResult = { ok: true; packet: ProbePacket } | { ok: false; reason: string };

/** Throws RangeError when a field does not fit its width; callers build packets themselves. */
export function encodeProbePacket(p: ProbePacket): Buffer {
  const buf = Buffer.alloc(PROBE_PACKET_SIZE);
  MAGIC.copy(buf, 0);
  buf.writeUInt8(TYPE_CODES[p.type], 4);
  buf.writeUInt32BE(p.session, 8);
  buf.writeUInt32BE(p.seq, 12);
  buf.writeBigUInt64BE(p.sentNs, 16);
  return buf;
}

export function decodeProbePacket(data: Uint8Array): DecodeResult {
  if (data.length !== PROBE_PACKET_SIZE) {
    return { ok: false, reason: `length ${data.length}, want ${PROBE_PACKET_SIZE}` };
  }
  const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
  if (!buf.subarray(0, 4).equals(MAGIC)) return { ok: false, reason: "bad magic" };
  const code = buf.readUInt8(4);
  const type = code === TYPE_CODES.request ? "request" : code === TYPE_CODES.reply ? "reply" : null;
  if (type === null) return { ok: false, reason: `unknown type ${code}` };
  if (buf[5] !== 0 || buf[6] !== 0 || buf[7] !== 0)
    return { ok: false, reason: "reserved bytes set" };
  return {
    ok: true,
    packet: {
      type,
      session: buf.readUInt32BE(8),
      seq: buf.readUInt32BE(12),
      sentNs: buf.readBigUInt64BE(16),
    },
  };
}
