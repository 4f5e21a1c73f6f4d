import { join } from "node:path";
import { performance } from "node:perf_hooks";
import t from "tap";
import {
  analyzeFlow,
  firstThroughAfter,
  lostAfter,
} from "../../control-plane/src/lab/traffic/analyze.ts";
import { flows, readStreamRecords } from "../../control-plane/src/lab/traffic/records.ts";
import { createPeerPair, nsExec, stopChild } from "../helpers/netns.ts";
import { STREAM_BIN as BIN, endpoint } from "../helpers/stream-endpoint.ts";
import { spawnCli } from "../helpers/swanpair-bin.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * Two real `swanpair lab stream` endpoints in two namespaces joined by a veth, 50 pps each way.
 * One end's link goes down for 600 ms: each direction must show that as exactly one outage
 * of about that length, lose nothing once traffic is through again, and hold its rate.
 */

const RATE = 50;
const CUT_MS = 600;
const wallMs = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

const ms = (n: number | null | undefined) => (n == null ? "-" : `${n.toFixed(1)} ms`);

t.test("a 600 ms cut: one outage each way, nothing lost after, the rate held", async (t) => {
  const a = { ns: "swp-stream-a", outside: "10.203.0.1", inside: [] };
  const b = { ns: "swp-stream-b", outside: "10.203.0.2", inside: [] };
  const pair = createPeerPair({ left: a, right: b, outsidePrefix: 24 });
  t.teardown(pair.cleanup);
  const dir = await tempDir(t, "swp-stream-");
  const args = (self: typeof a, peer: typeof a, name: string) => [
    ...["--bind", self.outside, "--peer", peer.outside, "--rate", String(RATE)],
    ...["--name", name, "--out", join(dir, `${name}.jsonl`), "--json"],
  ];
  const ends = [endpoint(t, a.ns, args(a, b, "a")), endpoint(t, b.ns, args(b, a, "b"))];
  await Promise.all(ends.map((e) => e.started));

  await sleep(1200);
  const drop = ["OUTPUT", "-o", "swpveth1", "-j", "DROP"];
  const cutting = wallMs();
  nsExec(a.ns, "ip", ["link", "set", "swpveth0", "down"]);
  nsExec(b.ns, "iptables", ["-I", ...drop]);
  await sleep(CUT_MS);
  const restoring = wallMs();
  nsExec(a.ns, "ip", ["link", "set", "swpveth0", "up"]);
  nsExec(b.ns, "iptables", ["-D", ...drop]);
  await sleep(1200);
  const [ea, eb] = await Promise.all(ends.map((e) => e.stop()));

  t.equal(ea?.code, 0, `a exits 0 on SIGTERM: ${ea?.stderr}`);
  t.equal(eb?.code, 0, `b exits 0 on SIGTERM: ${eb?.stderr}`);
  const errors = (e: typeof ea) => JSON.stringify(JSON.parse(e?.stdout ?? "{}").sendErrors);
  t.match(errors(ea), /^\{"ENETUNREACH":\d+\}$/, "a's sends failed while its link was down");
  t.match(errors(eb), /^\{"EPERM":\d+\}$/, "b's sends failed while its firewall dropped them");

  const [recA, recB] = await Promise.all([
    readStreamRecords(join(dir, "a.jsonl")),
    readStreamRecords(join(dir, "b.jsonl")),
  ]);
  for (const [direction, found] of [
    ["a to b", flows(recA, recB)],
    ["b to a", flows(recB, recA)],
  ] as const) {
    t.equal(found.length, 1, `${direction}: one run`);
    const flow = found[0];
    if (!flow) continue;
    const r = analyzeFlow(flow);
    const through = firstThroughAfter(flow, restoring);
    const [outage] = r.outages;
    t.comment(
      [
        `${direction}: sent ${r.sent} of ${r.expected} expected (longest send gap ${ms(r.maxSendGapMs)})`,
        `received ${r.received}, lost ${r.lost} (send errors ${r.sendErrors}), unjudged ${r.unjudged}`,
        `outage ${ms(outage?.durationMs)} from ${ms((outage?.startMs ?? 0) - cutting)} after the cut began`,
        `the receiver's longest silence ${ms(r.longestSilenceMs)}`,
        `first through ${ms((through?.recvMs ?? 0) - restoring)} after the restore began`,
      ].join("; "),
    );
    t.equal(r.outages.length, 1, `${direction}: exactly one outage`);
    const duration = outage?.durationMs ?? 0;
    t.ok(duration >= 500 && duration <= 900, `${direction}: outage ${ms(duration)}, in [500, 900]`);
    t.ok(through, `${direction}: packets through after the restore`);
    t.same(lostAfter(flow, through?.sentMs ?? restoring), [], `${direction}: nothing lost after`);
    t.ok(r.rateMet, `${direction}: ${r.sent} of ${r.expected} sent (>= 95%)`);
  }
});

t.test("bad flags exit 2, a bind that fails exits 1, each saying why", async (t) => {
  const dir = await tempDir(t, "swp-stream-");
  const run = (...args: string[]) =>
    spawnCli(BIN, ["lab", "stream", "--out", join(dir, "x.jsonl"), ...args]);
  const usage = await run("--bind", "127.0.0.1", "--peer", "peer-host", "--json");
  t.equal(usage.code, 2);
  t.same(JSON.parse(usage.stdout), {
    error: { code: "SWP_ERR_USAGE", message: "peer peer-host: want an IP address" },
  });
  const rate = await run("--bind", "127.0.0.1", "--peer", "127.0.0.2", "--rate", "5000");
  t.equal(rate.code, 2);
  t.match(rate.stderr, "rate 5000: want 0 < pps <= 1000");
  // TEST-NET-2: on no interface here, so the bind fails at once.
  const bind = await run("--bind", "198.51.100.77", "--peer", "127.0.0.2");
  t.equal(bind.code, 1);
  t.match(bind.stderr, /^bind EADDRNOTAVAIL 198\.51\.100\.77:7300$/m);
  const help = await run("--help");
  t.match(help.stdout, /Examples:\n {2}\$ swanpair lab stream --bind/);
});

t.test(
  "killed with SIGKILL: the record holds all but its last 100 ms; a restart appends",
  async (t) => {
    const dir = await tempDir(t, "swp-stream-");
    const out = join(dir, "a.jsonl");
    // Nothing listens at the peer: on loopback that costs no send errors.
    const args = ["--bind", "127.0.84.1", "--peer", "127.0.84.2"];
    const first = endpoint(t, undefined, [...args, "--out", out]);
    await first.started;
    await sleep(500);
    const killing = wallMs();
    await stopChild(first.child, "SIGKILL");
    const killed = await readStreamRecords(out);
    const last = killed.runs[0]?.sends.at(-1)?.sentMs ?? 0;
    // Records reach the file every 50 ms; the margin is for a busy machine.
    t.ok(killing - last <= 150, `last send recorded ${ms(killing - last)} before the kill`);

    const second = endpoint(t, undefined, [...args, "--out", out]);
    await second.started;
    await sleep(200);
    t.equal((await second.stop()).code, 0);
    const both = await readStreamRecords(out);
    t.equal(both.runs.length, 2, "two runs in one file");
    t.ok((both.runs[1]?.sends.length ?? 0) >= 5, "the second run's sends follow its header");
  },
);
