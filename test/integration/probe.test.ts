import type { ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { once } from "node:events";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import tap from "tap";
import {
  decodeProbePacket,
  encodeProbePacket,
  PROBE_PACKET_SIZE,
  type ProbePacket,
} from "../../agent/src/health/probe-packet.ts";
import { ProbeResponder } from "../../agent/src/health/probe-responder.ts";
import { Prober } from "../../agent/src/health/prober.ts";
import type { ProbeStatus } from "../../common/agent-api/status.ts";
import { createLogger } from "../../common/logger.ts";
import {
  createNetns,
  createPeerPair,
  deleteNetns,
  nsExec,
  nsSpawn,
  stopChild,
} from "../helpers/netns.ts";

const silent = createLogger({ name: "probe-test", level: "silent" });
const timing = { intervalMs: 50, timeoutMs: 40, fall: 3, rise: 3 };

/** Polls until check() returns a value; bounded so a broken prober fails instead of hanging. */
async function waitFor<T>(what: string, timeoutMs: number, check: () => T | undefined): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (performance.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

// Node cannot enter a namespace, so sockets there live in a child process: a prober
// prints its state changes on stdout, and both print their pino log on stderr.
const moduleUrl = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
const CHILD_SCRIPT = `
import { Prober } from ${moduleUrl("../../agent/src/health/prober.ts")};
import { ProbeResponder } from ${moduleUrl("../../agent/src/health/probe-responder.ts")};
import { createLogger } from ${moduleUrl("../../common/logger.ts")};
const { role, options } = JSON.parse(process.argv[1]);
const log = createLogger({ name: role, level: "info" });
const worker = role === "prober" ? new Prober({ ...options, log }) : new ProbeResponder({ ...options, log });
if (role === "prober") worker.onChange((status) => console.log(JSON.stringify(status)));
worker.start();
process.on("SIGTERM", () => worker.stop().then(() => process.exit(0)));
`;

interface Seen<T> {
  at: number;
  value: T;
}

interface LogLine {
  level: number;
  msg: string;
  err?: { code?: string };
}

interface NsWorker {
  child: ChildProcess;
  changes: Seen<ProbeStatus>[];
  logs: Seen<LogLine>[];
  /** Waits for the n-th state change (0-based) into the given state. */
  change(index: number, state: ProbeStatus["state"], timeoutMs: number): Promise<Seen<ProbeStatus>>;
}

function spawnWorker(
  t: Pick<typeof tap, "teardown" | "equal">,
  ns: string,
  role: "prober" | "responder",
  options: object,
): NsWorker {
  const child = nsSpawn(
    ns,
    process.execPath,
    ["--input-type=module", "-e", CHILD_SCRIPT, JSON.stringify({ role, options })],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  t.teardown(() => stopChild(child));
  if (!child.stdout || !child.stderr) throw new Error("spawned without pipes");
  const changes: Seen<ProbeStatus>[] = [];
  const logs: Seen<LogLine>[] = [];
  const stderrLines: string[] = [];
  createInterface({ input: child.stdout }).on("line", (line) =>
    changes.push({ at: performance.now(), value: JSON.parse(line) }),
  );
  createInterface({ input: child.stderr }).on("line", (line) => {
    stderrLines.push(line);
    if (line.startsWith("{")) logs.push({ at: performance.now(), value: JSON.parse(line) });
  });
  return {
    child,
    changes,
    logs,
    async change(index, state, timeoutMs) {
      const seen = await waitFor(`${role} change #${index} in ${ns}`, timeoutMs, () => {
        if (child.exitCode !== null) throw new Error(`${role} exited: ${stderrLines.join("\n")}`);
        return changes[index];
      });
      t.equal(seen.value.state, state, `${role} change #${index} is to ${state}`);
      return seen;
    },
  };
}

tap.test("on loopback a prober and responder go up with RTT and no loss", async (t) => {
  const responder = new ProbeResponder({ address: "127.0.83.2", port: 0, log: silent });
  responder.start();
  t.teardown(() => responder.stop());
  const bound = await waitFor("responder bind", 2000, () => responder.address() ?? undefined);

  const prober = new Prober({
    ...timing,
    source: "127.0.83.1",
    target: "127.0.83.2",
    port: bound.port,
    log: silent,
  });
  const changes: ProbeStatus[] = [];
  prober.onChange((s) => changes.push(s));
  t.same(prober.snapshot(), { state: "unknown", rttMs: null, loss: 0, sent: 0, received: 0 });
  const started = performance.now();
  prober.start();
  t.teardown(() => prober.stop());

  await waitFor("prober up", 2000, () => changes[0]);
  t.ok(
    performance.now() - started >= (timing.rise - 1) * timing.intervalMs - 5,
    "needs rise replies",
  );
  const s = prober.snapshot();
  t.equal(s.state, "up");
  t.equal(s.loss, 0);
  t.ok(s.rttMs !== null && s.rttMs > 0 && s.rttMs < timing.timeoutMs, `rtt ${s.rttMs} ms`);
  t.ok(s.received >= timing.rise && s.sent >= s.received, `sent ${s.sent}, received ${s.received}`);

  await prober.stop();
  const sent = prober.snapshot().sent;
  await new Promise((resolve) => setTimeout(resolve, 3 * timing.intervalMs));
  t.equal(prober.snapshot().sent, sent, "nothing is sent after stop()");
  t.equal(changes.length, 1, "one transition: unknown to up");
});

tap.test(
  "through a dropped link the prober falls after `fall` and rises after `rise`",
  async (t) => {
    const left = { ns: "swp-probe-a", outside: "10.200.0.1", inside: ["10.1.0.10/32"] };
    const right = { ns: "swp-probe-b", outside: "10.200.0.2", inside: ["10.2.0.20/32"] };
    const pair = createPeerPair({ left, right, outsidePrefix: 24 });
    t.teardown(pair.cleanup);
    // Stands in for the tunnel: the inside addresses reach each other over the veth.
    nsExec(left.ns, "ip", ["route", "add", "10.2.0.20/32", "via", right.outside]);
    nsExec(right.ns, "ip", ["route", "add", "10.1.0.10/32", "via", left.outside]);

    spawnWorker(t, right.ns, "responder", { address: "10.2.0.20", port: 7208 });
    const prober = spawnWorker(t, left.ns, "prober", {
      ...timing,
      source: "10.1.0.10",
      target: "10.2.0.20",
      port: 7208,
    });
    await prober.change(0, "up", 5000);

    const drop = ["INPUT", "-p", "udp", "--dport", "7208", "-j", "DROP"];
    // The rule takes effect somewhere during the iptables run: bound each side by its own end.
    const dropping = performance.now();
    nsExec(right.ns, "iptables", ["-I", ...drop]);
    const dropped = performance.now();
    const down = await prober.change(1, "down", 3000);
    const fallMs = down.at - dropping;
    t.ok(
      fallMs >= (timing.fall - 1) * timing.intervalMs,
      `down after ${fallMs.toFixed(0)} ms, not sooner`,
    );
    t.ok(
      down.at - dropped < timing.fall * timing.intervalMs + timing.timeoutMs + 500,
      "not much later",
    );
    t.ok(down.value.loss >= timing.fall / 10, `loss ${down.value.loss} counts the lost probes`);

    const restoring = performance.now();
    nsExec(right.ns, "iptables", ["-D", ...drop]);
    const restored = performance.now();
    const up = await prober.change(2, "up", 3000);
    const riseMs = up.at - restoring;
    t.ok(
      riseMs >= (timing.rise - 1) * timing.intervalMs - 5,
      `up after ${riseMs.toFixed(0)} ms, not sooner`,
    );
    t.ok(up.at - restored < timing.rise * timing.intervalMs + 500, "not much later");
    t.ok(up.value.rttMs !== null && up.value.rttMs > 0, "RTT is measured again");
  },
);

tap.test(
  "addresses added late: the responder binds once they exist, errors are losses",
  async (t) => {
    const ns = "swp-probe-late";
    createNetns(ns);
    t.teardown(() => deleteNetns(ns));

    const responder = spawnWorker(t, ns, "responder", {
      address: "10.77.0.2",
      port: 7208,
      retry: { minMs: 50, maxMs: 400 },
    });
    const target = { ...timing, target: "10.77.0.2", port: 7208 };
    // No route to the target yet: sends fail with ENETUNREACH.
    const unrouted = spawnWorker(t, ns, "prober", { ...target, source: "127.0.0.1" });
    // No source address yet: binds fail with EADDRNOTAVAIL.
    const unbound = spawnWorker(t, ns, "prober", { ...target, source: "10.77.0.1" });
    await unrouted.change(0, "down", 5000);
    await unbound.change(0, "down", 5000);
    // Let the responder retry a few times before the addresses appear.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const add = (addr: string) => `addr add ${addr} dev lo\n`;
    nsExec(ns, "ip", ["-batch", "-"], add("10.77.0.1/32") + add("10.77.0.2/32"));

    await unrouted.change(1, "up", 3000);
    await unbound.change(1, "up", 3000);
    const messages = responder.logs.map((l) => l.value.msg);
    t.equal(messages.filter((m) => /cannot bind/.test(m)).length, 1, "bind failure logged once");
    t.equal(messages.filter((m) => /listening/.test(m)).length, 1, "listening logged once");
    for (const p of [unrouted, unbound]) {
      // A prober may meet both errors if it ticks between the two address additions.
      const codes = p.logs.filter((l) => l.value.level === 40).map((l) => l.value.err?.code);
      t.ok(
        codes.length >= 1 && new Set(codes).size === codes.length,
        `one warning per error: ${codes}`,
      );
    }
  },
);

tap.test("garbage gets no answer and does not stop the responder", async (t) => {
  const responder = new ProbeResponder({ address: "127.0.83.3", port: 0, log: silent });
  responder.start();
  t.teardown(() => responder.stop());
  const { port } = await waitFor("responder bind", 2000, () => responder.address() ?? undefined);

  const client = createSocket("udp4");
  client.bind(0, "127.0.83.4");
  await once(client, "listening");
  t.teardown(() => client.close());
  const received: Buffer[] = [];
  client.on("message", (msg) => received.push(msg));
  const send = (data: Uint8Array) =>
    new Promise<void>((resolve, reject) =>
      client.send(data, port, "127.0.83.3", (err) => (err ? reject(err) : resolve())),
    );

  const request = encodeProbePacket({ type: "request", session: 42, seq: 1, sentNs: 99n });
  const withByte = (offset: number, byte: number) => {
    const b = Buffer.from(request);
    b[offset] = byte;
    return b;
  };
  const garbage = [
    Buffer.alloc(0),
    Buffer.from("hello"),
    request.subarray(0, PROBE_PACKET_SIZE - 1),
    Buffer.concat([request, Buffer.alloc(1000)]),
    withByte(0, 0),
    withByte(4, 9),
    withByte(6, 1),
    encodeProbePacket({ type: "reply", session: 42, seq: 1, sentNs: 99n }),
    Buffer.alloc(1400, 0xff),
  ];
  for (const g of garbage) await send(g);
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.equal(received.length, 0, "no answer to malformed packets or to replies");

  await send(request);
  await waitFor("reply", 1000, () => received[0]);
  t.equal(received.length, 1);
  t.same(received[0], withByte(4, 2), "the reply is the request with type 2, same size");
});

tap.test("the prober accepts only replies to its own outstanding requests", async (t) => {
  const fake = createSocket("udp4");
  fake.bind(0, "127.0.83.5");
  await once(fake, "listening");
  t.teardown(() => fake.close());
  // Answers each request wrongly, in turn: another session (an earlier run of the agent),
  // a timestamp that was never sent, and the request reflected unchanged.
  const corrupt: ((p: ProbePacket) => ProbePacket)[] = [
    (p) => ({ ...p, type: "reply", session: (p.session + 1) >>> 0 }),
    (p) => ({ ...p, type: "reply", sentNs: p.sentNs + 1n }),
    (p) => p,
  ];
  let answered = 0;
  fake.on("message", (msg, peer) => {
    const r = decodeProbePacket(msg);
    if (!r.ok) return;
    const wrong = corrupt[answered++ % corrupt.length] as (p: ProbePacket) => ProbePacket;
    fake.send(encodeProbePacket(wrong(r.packet)), peer.port, peer.address);
  });

  const prober = new Prober({
    ...timing,
    rise: 1,
    source: "127.0.83.6",
    target: "127.0.83.5",
    port: fake.address().port,
    log: silent,
  });
  prober.start();
  t.teardown(() => prober.stop());
  await waitFor("ten answers", 2000, () => (answered >= 10 ? true : undefined));
  const s = prober.snapshot();
  t.equal(s.received, 0, "no answer counted");
  t.equal(s.state, "down");
  t.equal(s.rttMs, null);
});
