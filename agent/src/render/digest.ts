import { createHash, type Hash } from "node:crypto";
import type { ViciMessage, ViciScalar } from "../vici/message.ts";

/**
 * Canonical encoding: every item is tagged and length-prefixed, so no two different
 * messages share an encoding. Order is kept because VICI order carries meaning (proposal
 * and auth-round order). A string and its UTF-8 bytes are the same on the wire, so they
 * hash the same.
 */
const SECTION = 1;
const LIST = 2;
const SCALAR = 3;

function bytes(value: ViciScalar): Uint8Array {
  return typeof value === "string" ? Buffer.from(value, "utf8") : value;
}

function put(hash: Hash, tag: number, data: Uint8Array) {
  const head = Buffer.alloc(5);
  head.writeUInt8(tag, 0);
  head.writeUInt32BE(data.length, 1);
  hash.update(head);
  hash.update(data);
}

function putCount(hash: Hash, tag: number, count: number) {
  put(hash, tag, Buffer.from(String(count)));
}

function putMessage(hash: Hash, message: ViciMessage) {
  const entries = Object.entries(message);
  putCount(hash, SECTION, entries.length);
  for (const [key, value] of entries) {
    put(hash, SCALAR, bytes(key));
    if (typeof value === "string" || value instanceof Uint8Array) {
      put(hash, SCALAR, bytes(value));
    } else if (Array.isArray(value)) {
      putCount(hash, LIST, value.length);
      for (const item of value) put(hash, SCALAR, bytes(item));
    } else {
      putMessage(hash, value);
    }
  }
}

/** sha256 (hex) of a section's canonical encoding; equal exactly when the sections are. */
export function sectionDigest(section: ViciMessage): string {
  const hash = createHash("sha256");
  putMessage(hash, section);
  return hash.digest("hex");
}
