import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import t, { type Test } from "tap";
import {
  decodeMessage,
  decodePacket,
  encodeMessage,
  encodePacket,
  PacketType,
} from "../../agent/src/vici/codec.ts";
import { encodeFrame, FrameSplitter, MAX_FRAME } from "../../agent/src/vici/framer.ts";
import type { ViciMessage } from "../../agent/src/vici/message.ts";
import { SwpError } from "../../common/errors.ts";

/** Bytes from numbers and ASCII strings, so fixtures read like the wire. */
function bytes(...parts: (number | string)[]): Uint8Array {
  return Uint8Array.from(
    parts.flatMap((p) => (typeof p === "string" ? [...p].map((c) => c.charCodeAt(0)) : [p])),
  );
}

function protocolError(t: Test, fn: () => unknown, re: RegExp, what: string) {
  t.throws(fn, { name: "SwpError", code: "SWP_ERR_VICI_PROTOCOL", message: re }, what);
}

t.test("fixture: the README's example message", async (t) => {
  const wire = bytes(
    3,
    4,
    "key1",
    0,
    6,
    "value1", //     KEY_VALUE "key1" = (16-bit length 6) "value1"
    1,
    8,
    "section1", //                 SECTION_START "section1"
    1,
    11,
    "sub-section", //             SECTION_START "sub-section"
    3,
    4,
    "key2",
    0,
    6,
    "value2", //     KEY_VALUE "key2" = "value2"
    2, //                                SECTION_END (sub-section)
    4,
    5,
    "list1", //                    LIST_START "list1"
    5,
    0,
    5,
    "item1", //                 LIST_ITEM (16-bit length 5) "item1"
    5,
    0,
    5,
    "item2", //                 LIST_ITEM "item2"
    6, //                                LIST_END
    2, //                                SECTION_END (section1)
  );
  const msg = {
    key1: "value1",
    section1: { "sub-section": { key2: "value2" }, list1: ["item1", "item2"] },
  };
  t.same(decodeMessage(wire), msg);
  t.same(encodeMessage(msg), wire);
});

t.test("fixture: a binary value and a 300-byte value", async (t) => {
  const secret = Uint8Array.of(0x00, 0xff, 0x80);
  t.same(
    encodeMessage({ data: secret }),
    bytes(3, 4, "data", 0, 3, 0x00, 0xff, 0x80), // KEY_VALUE "data", length 3, raw bytes
  );
  const long = "x".repeat(300);
  // 300 = 0x012c: the value length is 16-bit big-endian.
  t.same(encodeMessage({ k: long }).subarray(0, 5), bytes(3, 1, "k", 0x01, 0x2c));
  t.equal(decodeMessage(encodeMessage({ k: long })).k, long);
});

t.test("fixture: packets and frames", async (t) => {
  // CMD_REQUEST (0), name length 7, "version", empty message.
  const request = bytes(0, 7, "version");
  t.same(encodePacket({ type: PacketType.CMD_REQUEST, name: "version", message: {} }), request);
  // The frame adds the packet's length (9) as a 32-bit big-endian prefix.
  t.same(encodeFrame(request), bytes(0, 0, 0, 9, 0, 7, "version"));

  // CMD_RESPONSE (1) is unnamed: the message follows the type byte.
  const response = bytes(1, 3, 7, "success", 0, 2, "no", 3, 6, "errmsg", 0, 4, "oops");
  t.same(decodePacket(response), {
    type: PacketType.CMD_RESPONSE,
    message: { success: "no", errmsg: "oops" },
  });

  // EVENT (7) "ike-updown" carrying up = yes.
  t.same(decodePacket(bytes(7, 10, "ike-updown", 3, 2, "up", 0, 3, "yes")), {
    type: PacketType.EVENT,
    name: "ike-updown",
    message: { up: "yes" },
  });

  // EVENT_CONFIRM (5): a lone type byte.
  t.same(decodePacket(bytes(5)), { type: PacketType.EVENT_CONFIRM, message: {} });
  t.same(encodePacket({ type: PacketType.EVENT_REGISTER, name: "log" }), bytes(3, 3, "log"));
});

t.test("decoding keeps __proto__ as data and the last of duplicate keys", async (t) => {
  const msg = decodeMessage(
    bytes(3, 9, "__proto__", 0, 1, "a", 3, 1, "k", 0, 1, "1", 3, 1, "k", 0, 1, "2"),
  );
  t.equal(Object.getPrototypeOf(msg), Object.prototype);
  t.same(Object.keys(msg), ["__proto__", "k"]);
  t.equal(msg.k, "2");
});

t.test("malformed messages throw SWP_ERR_VICI_PROTOCOL", async (t) => {
  const cases: [string, Uint8Array, RegExp][] = [
    ["truncated name", bytes(3, 5, "ab"), /truncated key name/],
    ["truncated value", bytes(3, 1, "a", 0, 5, "x"), /truncated value of "a"/],
    ["truncated value length", bytes(3, 1, "a", 0), /truncated value of "a" length/],
    ["unknown element type", bytes(9), /unknown element type 9 at byte 0/],
    ["element type zero", bytes(3, 1, "a", 0, 0, 0), /unknown element type 0 at byte 5/],
    ["unbalanced section end", bytes(2), /unbalanced section end/],
    ["list item outside a list", bytes(5, 0, 1, "x"), /list item outside a list/],
    ["list end outside a list", bytes(6), /list end outside a list/],
    ["key inside a list", bytes(4, 1, "l", 3, 1, "a", 0, 0, 6), /element type 3 .* inside a list/],
    ["section inside a list", bytes(4, 1, "l", 1, 1, "s", 2, 6), /inside a list/],
    ["unterminated section", bytes(1, 1, "s"), /ends inside 1 open section/],
    ["unterminated list", bytes(4, 1, "l", 5, 0, 0), /ends inside a list/],
  ];
  for (const [what, wire, re] of cases) protocolError(t, () => decodeMessage(wire), re, what);
});

t.test("malformed packets throw SWP_ERR_VICI_PROTOCOL", async (t) => {
  protocolError(t, () => decodePacket(bytes()), /truncated packet type/, "empty packet");
  protocolError(t, () => decodePacket(bytes(8)), /unknown packet type 8/, "packet type 8");
  protocolError(
    t,
    () => decodePacket(bytes(7)),
    /truncated packet name length/,
    "event without name",
  );
  protocolError(t, () => decodePacket(bytes(0, 4, "ve")), /truncated packet name/, "short name");
  protocolError(
    t,
    () => decodePacket(bytes(1, 2)),
    /unbalanced section end/,
    "bad response message",
  );
});

t.test("encoding refuses what the wire cannot carry", async (t) => {
  protocolError(
    t,
    () => encodeMessage({ ["n".repeat(256)]: "v" }),
    /256 bytes, the VICI limit is 255/,
    "name",
  );
  t.equal(
    encodeMessage({ ["n".repeat(255)]: "v" }).length,
    1 + 1 + 255 + 2 + 1,
    "255-byte name fits",
  );
  protocolError(
    t,
    () => encodeMessage({ s: { k: "v".repeat(65536) } }),
    /value of "s\.k" is 65536 bytes/,
    "value",
  );
  protocolError(
    t,
    () => encodeMessage({ l: ["ok", "v".repeat(65536)] }),
    /list item l\[1\]/,
    "list item",
  );
  protocolError(
    t,
    () => encodeMessage({ n: 5 } as unknown as ViciMessage),
    /"n" has unsupported type number/,
    "number",
  );
  protocolError(
    t,
    () => encodeMessage({ l: [{}] } as unknown as ViciMessage),
    /l\[0\] must be/,
    "section in list",
  );
  protocolError(
    t,
    () => encodePacket({ type: PacketType.CMD_REQUEST }),
    /CMD_REQUEST packets need name/,
    "no name",
  );
  protocolError(
    t,
    () => encodePacket({ type: PacketType.CMD_RESPONSE, name: "x" }),
    /CMD_RESPONSE packets take no name/,
    "unexpected name",
  );
  protocolError(
    t,
    () => encodeFrame(new Uint8Array(MAX_FRAME + 1)),
    /exceeds the 524288 byte limit/,
    "frame",
  );
});

t.test("an encode error never echoes the value", async (t) => {
  const secret = `hunter2${"x".repeat(70000)}`;
  try {
    encodeMessage({ psk: secret });
    t.fail("should throw");
  } catch (err) {
    t.notMatch((err as Error).message, /hunter2/);
  }
});

t.test("frame splitter", async (t) => {
  const f = new FrameSplitter();
  t.same(f.push(bytes(0, 0)), [], "partial header");
  t.same(f.push(bytes(0, 2, "a")), [], "partial body");
  t.same(f.push(bytes("b", 0, 0, 0, 0, 0, 0, 0, 1, "c", 0)), [bytes("ab"), bytes(), bytes("c")]);
  t.same(f.push(bytes(0, 0, 1, "d")), [bytes("d")], "header split across chunks");

  const small = new FrameSplitter(10);
  // A header announcing 11 bytes fails before any of them arrive.
  protocolError(
    t,
    () => small.push(bytes(0, 0, 0, 11)),
    /11 bytes exceeds the 10 byte limit/,
    "oversized",
  );
  protocolError(
    t,
    () => new FrameSplitter().push(bytes(0xff, 0xff, 0xff, 0xff)),
    /4294967295 bytes/,
    "huge",
  );
});

/** Messages whose strings survive UTF-8 both ways. */
const viciMessage = fc.letrec((tie) => ({
  message: fc.dictionary(
    fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 }),
    fc.oneof(
      { depthSize: "small" },
      fc.string({ unit: "grapheme", maxLength: 40 }),
      fc.array(fc.string({ unit: "grapheme", maxLength: 20 }), { maxLength: 4 }),
      tie("message"),
    ),
    { maxKeys: 6, noNullPrototype: true },
  ),
})).message as fc.Arbitrary<ViciMessage>;

t.test("property: decode(encode(m)) equals m, and re-encodes to the same bytes", async (t) => {
  fc.assert(
    fc.property(viciMessage, (m) => {
      const wire = encodeMessage(m);
      const back = decodeMessage(wire);
      return (
        isDeepStrictEqual(back, m) && isDeepStrictEqual(encodeMessage(back as ViciMessage), wire)
      );
    }),
    { numRuns: 300 },
  );
  t.pass("round trips");
});

t.test("property: byte values decode to their UTF-8 reading", async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (raw) => {
      return decodeMessage(encodeMessage({ v: raw })).v === new TextDecoder().decode(raw);
    }),
  );
  t.pass("decoded");
});

t.test("property: frames survive any chunking of the stream", async (t) => {
  fc.assert(
    fc.property(
      fc.array(viciMessage, { maxLength: 5 }),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }),
      (msgs, cuts) => {
        const packets = msgs.map((message) =>
          encodePacket({ type: PacketType.EVENT, name: "e", message }),
        );
        const stream = Uint8Array.from(packets.flatMap((p) => [...encodeFrame(p)]));
        const splitter = new FrameSplitter();
        const out: Uint8Array[] = [];
        for (let at = 0, i = 0; at < stream.length; i++) {
          const size = cuts[i % cuts.length] as number;
          out.push(...splitter.push(stream.subarray(at, at + size)));
          at += size;
        }
        return isDeepStrictEqual(
          out.map((f) => decodePacket(f).message),
          msgs,
        );
      },
    ),
    { numRuns: 200 },
  );
  t.pass("split");
});

/** Runs `fn` and passes unless it throws something other than a protocol SwpError. */
function onlyProtocolErrors(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    return err instanceof SwpError && err.code === "SWP_ERR_VICI_PROTOCOL";
  }
}

t.test("fuzz: random and mutated bytes only ever throw SWP_ERR_VICI_PROTOCOL", async (t) => {
  const randomBytes = fc.uint8Array({ maxLength: 200 });
  // Valid encodings with bytes overwritten and the tail cut: much closer to real corruption.
  const mutated = fc
    .tuple(
      viciMessage,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.nat(),
    )
    .map(([m, edits, cut]) => {
      const wire = encodeMessage(m);
      for (const [at, value] of edits) if (wire.length > 0) wire[at % wire.length] = value;
      return wire.subarray(0, wire.length - (wire.length > 0 ? cut % wire.length : 0));
    });
  fc.assert(
    fc.property(fc.oneof(randomBytes, mutated), (input) => {
      return (
        onlyProtocolErrors(() => decodeMessage(input)) &&
        onlyProtocolErrors(() => decodePacket(input)) &&
        onlyProtocolErrors(() => new FrameSplitter(1000).push(input))
      );
    }),
    { numRuns: 20_000 },
  );
  t.pass("no crash");
});
