import { createHash } from "node:crypto";
import { encodeMessage } from "../vici/codec.ts";
import type { ViciMessage } from "../vici/message.ts";

/**
 * sha256 (hex) of the section's VICI wire encoding. That encoding is tagged and
 * length-prefixed, so two sections hash the same exactly when charon would receive the same
 * bytes; order is kept because VICI order carries meaning (proposal and auth-round order).
 */
export function sectionDigest(section: ViciMessage): string {
  return createHash("sha256").update(encodeMessage(section)).digest("hex");
}
