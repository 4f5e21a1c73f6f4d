import { encodeMessage } from "../vici/codec.ts";
import type { ViciMessage } from "../vici/message.ts";

/**
 * The section's VICI wire encoding, one character per byte. That encoding is tagged and
 * length-prefixed, so two sections have the same fingerprint exactly when charon would
 * receive the same bytes; order is kept because VICI order carries meaning (proposal and
 * auth-round order). The bytes themselves, not a hash of them: a few hundred bytes per
 * connection cost less than node:crypto does an idle agent (2 MB, decision 0008).
 */
export function sectionFingerprint(section: ViciMessage): string {
  return Buffer.from(encodeMessage(section)).toString("latin1");
}
