/**
 * VICI transport framing: each packet travels behind a 32-bit big-endian length that
 * counts the packet only. Pure, so the socket code stays a thin shell around it.
 */
import { SwpError } from "../../../common/errors.ts";

/** charon's own limit (VICI_MESSAGE_SIZE_MAX): it drops connections that exceed it. */
export const MAX_FRAME = 512 * 1024;

const HEADER = 4;

function frameTooBig(length: number, max: number): SwpError {
  return new SwpError(
    "SWP_ERR_VICI_PROTOCOL",
    `VICI frame of ${length} bytes exceeds the ${max} byte limit`,
  );
}

export function encodeFrame(packet: Uint8Array): Uint8Array {
  if (packet.length > MAX_FRAME) throw frameTooBig(packet.length, MAX_FRAME);
  const out = new Uint8Array(HEADER + packet.length);
  new DataView(out.buffer).setUint32(0, packet.length);
  out.set(packet, HEADER);
  return out;
}

/**
 * Splits a byte stream into frames. A declared length over `max` throws at once, before
 * its bytes are buffered, so a corrupt header cannot make the reader wait for gigabytes.
 */
export class FrameSplitter {
  readonly #max: number;
  #pending: Uint8Array = new Uint8Array(0);

  constructor(max = MAX_FRAME) {
    this.#max = max;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    let data = chunk;
    if (this.#pending.length > 0) {
      data = new Uint8Array(this.#pending.length + chunk.length);
      data.set(this.#pending);
      data.set(chunk, this.#pending.length);
    }
    const frames: Uint8Array[] = [];
    let at = 0;
    while (data.length - at >= HEADER) {
      const length = new DataView(data.buffer, data.byteOffset + at, HEADER).getUint32(0);
      if (length > this.#max) throw frameTooBig(length, this.#max);
      if (data.length - at - HEADER < length) break;
      frames.push(data.slice(at + HEADER, at + HEADER + length));
      at += HEADER + length;
    }
    this.#pending = data.slice(at);
    return frames;
  }
}
