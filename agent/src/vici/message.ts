/**
 * A VICI message: ordered keys whose values are byte strings, lists of byte strings,
 * or nested sections. Strings are encoded as UTF-8; decoded values are strings.
 * Object key order is the wire order (names that look like integers would be
 * reordered by JavaScript, so swanpair's names must start with a letter).
 */
export type ViciScalar = string | Uint8Array;
export type ViciValue = ViciScalar | ViciScalar[] | ViciMessage;
export interface ViciMessage {
  [key: string]: ViciValue;
}

/** What decode() returns: values are always strings. */
export type DecodedValue = string | string[] | DecodedMessage;
export interface DecodedMessage {
  [key: string]: DecodedValue;
}
