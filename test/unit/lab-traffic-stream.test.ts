import t from "tap";
import {
  nextSlot,
  type StreamOptions,
  streamProblem,
} from "../../control-plane/src/lab/traffic/stream.ts";

t.test("nextSlot: absolute deadlines, missed slots skipped", async (t) => {
  const period = 20;
  const cases: Array<[string, number, number, number]> = [
    ["on time", 3, 60.2, 4],
    ["a timer a fraction early still moves one slot on", 3, 59.6, 4],
    ["late by less than a period: the next deadline stays on the grid", 3, 75, 4],
    ["a 200 ms stall: the send serves slot 13, slots 4 to 12 are skipped", 3, 265, 14],
    ["the first send", 0, 0.3, 1],
  ];
  for (const [name, slot, elapsed, next] of cases)
    t.equal(nextSlot(slot, elapsed, period), next, name);
  // 1000 sends, each timer 0.9 ms late: still on the grid, no drift.
  let slot = 0;
  for (let i = 0; i < 1000; i++) slot = nextSlot(slot, slot * period + 0.9, period);
  t.equal(slot, 1000);
});

t.test("streamProblem: what the endpoint refuses before it starts", async (t) => {
  const ok: StreamOptions = {
    bind: "10.1.0.10",
    port: 7300,
    peer: "10.2.0.20",
    peerPort: 7300,
    out: "/tmp/x.jsonl",
    name: "host-a",
  };
  t.equal(streamProblem(ok), null);
  t.equal(streamProblem({ ...ok, bind: "2001:db8::1", peer: "2001:db8::2" }), null);
  const cases: Array<[Partial<StreamOptions>, string]> = [
    [{ ratePps: 0 }, "rate 0: want 0 < pps <= 1000"],
    [{ ratePps: 1001 }, "rate 1001: want 0 < pps <= 1000"],
    [{ ratePps: Number.NaN }, "rate NaN: want 0 < pps <= 1000"],
    [{ bind: "localhost" }, "bind localhost: want an IP address"],
    [{ peer: "host-b" }, "peer host-b: want an IP address"],
    [{ peer: "2001:db8::2" }, "bind and peer: one address family"],
    [{ name: "x".repeat(65) }, `name ${"x".repeat(65)}: at most 64 bytes`],
    [{ port: 0 }, "port 0: want 1-65535"],
    [{ peerPort: 70000 }, "peer port 70000: want 1-65535"],
    [{ port: 7300.5 }, "port 7300.5: want 1-65535"],
  ];
  for (const [change, problem] of cases) t.equal(streamProblem({ ...ok, ...change }), problem);
});
