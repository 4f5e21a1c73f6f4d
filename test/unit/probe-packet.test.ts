import fc from "fast-check";
import t from "tap";
import {
  decodeProbePacket,
  encodeProbePacket,
  PROBE_PACKET_SIZE,
  type ProbePacket,
} from "../../agent/src/health/probe-packet.ts";

const request: ProbePacket = {
  type: "request",
  session: 0xdeadbeef,
  seq: 7,
  sentNs: 123_456_789_012_345n,
};

t.test("wire layout", async (t) => {
  const buf = encodeProbePacket(request);
  t.equal(buf.length, PROBE_PACKET_SIZE);
  t.equal(
    buf.toString("hex"),
    [
      "53575031", // "SWP1"
      "01000000", // request, reserved
      "deadbeef", // session
      "00000007", // sequence
      "00007048860ddf79", // sender time in ns
    ].join(""),
  );
  t.equal(encodeProbePacket({ ...request, type: "reply" })[4], 2);
});

t.test("round-trips any field values", async (t) => {
  const arb = fc.record({
    type: fc.constantFrom("request" as const, "reply" as const),
    session: fc.integer({ min: 0, max: 0xffffffff }),
    seq: fc.integer({ min: 0, max: 0xffffffff }),
    sentNs: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  });
  fc.assert(
    fc.property(arb, (p) => {
      const r = decodeProbePacket(encodeProbePacket(p));
      return r.ok && JSON.stringify(r.packet, bigintJson) === JSON.stringify(p, bigintJson);
    }),
  );
  t.pass("round-trip held");
});

t.test("decodes from a view into a larger buffer", async (t) => {
  const big = Buffer.alloc(100, 0xff);
  encodeProbePacket(request).copy(big, 10);
  const r = decodeProbePacket(big.subarray(10, 10 + PROBE_PACKET_SIZE));
  t.ok(r.ok);
  if (r.ok) t.same(r.packet, request);
});

t.test("rejects malformed packets with a reason", async (t) => {
  const good = encodeProbePacket(request);
  const patched = (offset: number, byte: number) => {
    const b = Buffer.from(good);
    b[offset] = byte;
    return b;
  };
  const rows: [string, Uint8Array, RegExp][] = [
    ["empty", Buffer.alloc(0), /length 0/],
    ["one byte short", good.subarray(0, PROBE_PACKET_SIZE - 1), /length 23/],
    ["one byte long", Buffer.concat([good, Buffer.of(0)]), /length 25/],
    ["large", Buffer.alloc(1400), /length 1400/],
    ["lowercase magic", patched(0, "s".charCodeAt(0)), /magic/],
    ["other version", patched(3, "2".charCodeAt(0)), /magic/],
    ["type 0", patched(4, 0), /type 0/],
    ["type 3", patched(4, 3), /type 3/],
    ["type 255", patched(4, 255), /type 255/],
    ["reserved byte 5", patched(5, 1), /reserved/],
    ["reserved byte 7", patched(7, 0x80), /reserved/],
    ["all zero", Buffer.alloc(PROBE_PACKET_SIZE), /magic/],
    ["text after the magic", Buffer.from(`SWP1${"x".repeat(20)}`, "ascii"), /type 120/],
  ];
  for (const [name, data, reason] of rows) {
    const r = decodeProbePacket(data);
    t.equal(r.ok, false, name);
    if (!r.ok) t.match(r.reason, reason, name);
  }
});

t.test("never throws on arbitrary bytes", async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      decodeProbePacket(bytes);
      return true;
    }),
  );
  t.pass("no throw");
});

t.test("encode refuses values that do not fit", async (t) => {
  t.throws(() => encodeProbePacket({ ...request, seq: 2 ** 32 }), RangeError);
  t.throws(() => encodeProbePacket({ ...request, session: -1 }), RangeError);
  t.throws(() => encodeProbePacket({ ...request, sentNs: 2n ** 64n }), RangeError);
});

function bigintJson(_key: string, value: unknown) {
  return typeof value === "bigint" ? value.toString() : value;
}
