import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import t from "tap";
import { LineAppender } from "../../control-plane/src/lab/traffic/appender.ts";
import {
  decodeStreamPacket,
  encodeStreamPacket,
  STREAM_HEADER_SIZE,
  type StreamPacket,
} from "../../control-plane/src/lab/traffic/packet.ts";
import {
  arrivalLine,
  flows,
  headerLine,
  parseStreamRecords,
  readStreamRecords,
  type StreamHeader,
  sendLine,
} from "../../control-plane/src/lab/traffic/records.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const T0 = 1_767_268_800_000.125;

const header = (name: string, run: number, over: Partial<StreamHeader> = {}): StreamHeader => ({
  stream: 1,
  name,
  run,
  bind: "10.1.0.10",
  port: 7300,
  peer: "10.2.0.20",
  peerPort: 7300,
  ratePps: 50,
  startMs: T0,
  ...over,
});

t.test("packet: wire layout", async (t) => {
  const buf = encodeStreamPacket({ name: "a1", run: 0xdeadbeef, seq: 7, sentMs: 1.5 });
  t.equal(
    buf.toString("hex"),
    [
      "53575054", // "SWPT"
      "01020000", // version 1, name of 2 bytes, reserved
      "deadbeef", // run
      "00000007", // sequence
      "3ff8000000000000", // 1.5 ms, float64
      "6131", // "a1"
    ].join(""),
  );
});

t.test("packet: round-trips any field values", async (t) => {
  const arb = fc.record({
    name: fc.string({ maxLength: 16 }),
    run: fc.integer({ min: 0, max: 0xffffffff }),
    seq: fc.integer({ min: 0, max: 0xffffffff }),
    sentMs: fc.double({ noNaN: true, noDefaultInfinity: true }),
  });
  fc.assert(
    fc.property(arb, (p: StreamPacket) => {
      t.same(decodeStreamPacket(encodeStreamPacket(p)), p);
    }),
  );
  t.throws(
    () => encodeStreamPacket({ name: "x".repeat(65), run: 0, seq: 0, sentMs: 0 }),
    RangeError,
  );
});

t.test("packet: anything else on the port is no packet", async (t) => {
  const good = encodeStreamPacket({ name: "b", run: 1, seq: 2, sentMs: T0 });
  const withByte = (offset: number, byte: number) => {
    const b = Buffer.from(good);
    b[offset] = byte;
    return b;
  };
  const notNumber = Buffer.from(good);
  notNumber.writeDoubleBE(Number.NaN, 16);
  for (const [what, data] of [
    ["empty", Buffer.alloc(0)],
    ["short", good.subarray(0, STREAM_HEADER_SIZE - 1)],
    ["name cut", good.subarray(0, good.length - 1)],
    ["trailing byte", Buffer.concat([good, Buffer.alloc(1)])],
    ["magic", withByte(0, 0)],
    ["version", withByte(4, 2)],
    ["reserved", withByte(7, 1)],
    ["time not a number", notNumber],
  ] as const)
    t.equal(decodeStreamPacket(data), null, what);
});

t.test("records: lines read back as written, with times to the µs", async (t) => {
  const text = [
    headerLine(header("a", 11)),
    sendLine({ seq: 0, sentMs: T0 + 0.0002 }),
    arrivalLine({ name: "b", run: 22, seq: 0, sentMs: T0 + 1, recvMs: T0 + 1.7 }),
    sendLine({ seq: 1, sentMs: T0 + 20, error: "ENETUNREACH" }),
  ].join("");
  t.match(text, /^\["s",0,1767268800000\.125\]$/m, "compact lines");
  t.same(parseStreamRecords(text), {
    runs: [
      {
        header: header("a", 11),
        sends: [
          { seq: 0, sentMs: T0 },
          { seq: 1, sentMs: T0 + 20, error: "ENETUNREACH" },
        ],
      },
    ],
    arrivals: [{ name: "b", run: 22, seq: 0, sentMs: T0 + 1, recvMs: T0 + 1.7 }],
    lastMs: T0 + 20,
    torn: 0,
  });
});

t.test("records: a torn line ends its run; garbage elsewhere is an error", async (t) => {
  const first = headerLine(header("a", 1)) + sendLine({ seq: 0, sentMs: T0 });
  const torn = '["s",1,17672688';
  t.match(parseStreamRecords(first + torn), { torn: 1, runs: [{ sends: [{ seq: 0 }] }] }, "last");
  const restarted = `${first + torn}\n${headerLine(header("a", 2))}${sendLine({ seq: 0, sentMs: T0 + 5 })}`;
  t.match(parseStreamRecords(restarted), {
    torn: 1,
    runs: [{ header: { run: 1 } }, { header: { run: 2 } }],
  });
  t.throws(
    () => parseStreamRecords(`${first}${torn}\n${sendLine({ seq: 2, sentMs: T0 })}`, "a.jsonl"),
    {
      message: "a.jsonl:3: not a stream record",
    },
  );
  t.throws(() => parseStreamRecords(sendLine({ seq: 0, sentMs: T0 }), "a.jsonl"), {
    message: "a.jsonl:1: a send before any header",
  });
  t.same(parseStreamRecords(""), { runs: [], arrivals: [], lastMs: null, torn: 0 });
});

t.test("flows: each sender run with the arrivals the receiver recorded from it", async (t) => {
  const sender = parseStreamRecords(
    [
      headerLine(header("a", 1)),
      sendLine({ seq: 0, sentMs: T0 }),
      headerLine(header("a", 2, { startMs: T0 + 100, ratePps: 100 })),
      sendLine({ seq: 0, sentMs: T0 + 100 }),
    ].join(""),
  );
  const receiver = parseStreamRecords(
    [
      headerLine(header("b", 9, { startMs: T0 - 50 })),
      arrivalLine({ name: "a", run: 1, seq: 0, sentMs: T0, recvMs: T0 + 1 }),
      arrivalLine({ name: "x", run: 2, seq: 0, sentMs: T0, recvMs: T0 + 2 }),
      arrivalLine({ name: "a", run: 2, seq: 0, sentMs: T0 + 100, recvMs: T0 + 101 }),
      sendLine({ seq: 0, sentMs: T0 + 150 }),
    ].join(""),
  );
  t.same(flows(sender, receiver), [
    {
      ratePps: 50,
      startMs: T0,
      sends: [{ seq: 0, sentMs: T0 }],
      arrivals: [{ name: "a", run: 1, seq: 0, sentMs: T0, recvMs: T0 + 1 }],
      receiverStartMs: T0 - 50,
      receiverEndMs: T0 + 150,
    },
    {
      ratePps: 100,
      startMs: T0 + 100,
      sends: [{ seq: 0, sentMs: T0 + 100 }],
      arrivals: [{ name: "a", run: 2, seq: 0, sentMs: T0 + 100, recvMs: T0 + 101 }],
      receiverStartMs: T0 - 50,
      receiverEndMs: T0 + 150,
    },
  ]);
  const alone = flows(sender, parseStreamRecords(""))[0] ?? {};
  t.notOk("receiverStartMs" in alone || "receiverEndMs" in alone, "no receiver record: no window");
});

t.test("appender: writes in order, and after a torn file starts on a fresh line", async (t) => {
  const dir = await tempDir(t, "swp-records-");
  const file = join(dir, "a.jsonl");
  await writeFile(file, `${headerLine(header("a", 1))}["s",0,176`);
  const errors: Error[] = [];
  const appender = await LineAppender.open(file, { flushMs: 10, onError: (e) => errors.push(e) });
  appender.push(headerLine(header("a", 2)));
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.match(
    await readFile(file, "utf8"),
    /176\n\{"stream":1,"name":"a","run":2,/,
    "flushed before close",
  );
  appender.push(sendLine({ seq: 0, sentMs: T0 }));
  await appender.close();
  appender.push(sendLine({ seq: 1, sentMs: T0 }));
  const records = await readStreamRecords(file);
  t.match(records, { torn: 1, runs: [{ sends: [] }, { sends: [{ seq: 0 }] }] });
  t.same(errors, []);
});
