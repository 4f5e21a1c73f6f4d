import { randomInt } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";
import { isIP, isIPv6 } from "node:net";
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";
import { setImmediate as nextTurn } from "node:timers/promises";
import { createLogger, type Logger } from "../../../../common/logger.ts";
import { LineAppender } from "./appender.ts";
import { decodeStreamPacket, encodeStreamPacket, MAX_NAME_BYTES } from "./packet.ts";
import { arrivalLine, headerLine, sendLine } from "./records.ts";

/**
 * A traffic endpoint on a workload host: sends a sequence stream to its peer at a steady rate
 * and records every send and every arrival from the peer (records.ts), until `signal` aborts.
 * The path going away is what the lab measures, so send errors are recorded, not fatal.
 */

export const DEFAULT_RATE_PPS = 50;
export const MAX_RATE_PPS = 1000;
/** How often records reach the file: well inside the 100 ms a killed endpoint may lose. */
const FLUSH_MS = 50;

export interface StreamOptions {
  /** The address to send from and receive on; an IP address. */
  bind: string;
  port: number;
  /** An IP address: a host name would be looked up on every send. */
  peer: string;
  peerPort: number;
  ratePps?: number;
  /** The record file, appended to. */
  out: string;
  /** Carried in every packet; the host name by default. */
  name?: string;
  signal?: AbortSignal;
  log?: Logger;
}

export interface StreamSummary {
  name: string;
  run: number;
  sent: number;
  /** Failed sends by errno code. */
  sendErrors: Record<string, number>;
  received: number;
  /** Datagrams on the port that were no stream packet. */
  malformed: number;
}

/** Wall-clock ms with sub-ms precision; moves with the monotonic clock between steps. */
const wallMs = () => performance.timeOrigin + performance.now();

export function streamProblem(options: StreamOptions): string | null {
  const rate = options.ratePps ?? DEFAULT_RATE_PPS;
  if (!(rate > 0 && rate <= MAX_RATE_PPS)) return `rate ${rate}: want 0 < pps <= ${MAX_RATE_PPS}`;
  for (const [what, value] of [
    ["bind", options.bind],
    ["peer", options.peer],
  ] as const)
    if (!isIP(value)) return `${what} ${value}: want an IP address`;
  if (isIPv6(options.bind) !== isIPv6(options.peer)) return "bind and peer: one address family";
  const name = options.name ?? hostname();
  if (Buffer.byteLength(name) > MAX_NAME_BYTES)
    return `name ${name}: at most ${MAX_NAME_BYTES} bytes`;
  for (const [what, value] of [
    ["port", options.port],
    ["peer port", options.peerPort],
  ] as const)
    if (!Number.isInteger(value) || value < 1 || value > 65535)
      return `${what} ${value}: want 1-65535`;
  return null;
}

/**
 * The slot to send next, after a send `elapsedMs` into the stream that was due at `slot`.
 * Deadlines are absolute (slot × period from the start), so timer lateness never adds up
 * into drift; the send served the latest slot due, so slots a stalled event loop missed are
 * skipped, not sent in a burst.
 */
export function nextSlot(slot: number, elapsedMs: number, periodMs: number): number {
  return Math.max(slot, Math.floor(elapsedMs / periodMs)) + 1;
}

export async function runStream(options: StreamOptions): Promise<StreamSummary> {
  const problem = streamProblem(options);
  if (problem) throw new RangeError(problem);
  const { bind, port, peer, peerPort, signal } = options;
  const ratePps = options.ratePps ?? DEFAULT_RATE_PPS;
  const log = options.log ?? createLogger({ name: "lab-stream", level: "silent" });
  const name = options.name ?? hostname();
  const summary: StreamSummary = {
    name,
    run: randomInt(0, 2 ** 32),
    sent: 0,
    sendErrors: {},
    received: 0,
    malformed: 0,
  };

  // The caller's signal, or the record file failing: without a record the stream is pointless.
  const broken = new AbortController();
  const stopping = signal ? AbortSignal.any([signal, broken.signal]) : broken.signal;
  const socket = createSocket(isIPv6(bind) ? "udp6" : "udp4");
  socket.bind(port, bind);
  await once(socket, "listening").catch(async (err) => {
    await close(socket);
    throw err;
  });
  // Errors the socket reports on its own (not a send's) leave it usable: note them, go on.
  socket.on("error", (err) => log.warn({ err }, "stream socket error"));
  const file = await LineAppender.open(options.out, {
    flushMs: FLUSH_MS,
    onError: (err) => broken.abort(err),
  }).catch(async (err) => {
    await close(socket);
    throw err;
  });

  socket.on("message", (msg) => {
    const recvMs = wallMs();
    const packet = decodeStreamPacket(msg);
    if (!packet) {
      summary.malformed++;
      return;
    }
    summary.received++;
    file.push(arrivalLine({ ...packet, recvMs }));
  });

  const periodMs = 1000 / ratePps;
  const t0 = performance.now();
  const startMs = performance.timeOrigin + t0;
  file.push(
    headerLine({ stream: 1, name, run: summary.run, bind, port, peer, peerPort, ratePps, startMs }),
  );
  log.info({ sender: name, run: summary.run, peer, peerPort, ratePps }, "stream started");
  let lastError: string | null = null;
  let slot = 0;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    const seq = summary.sent++;
    const sentMs = wallMs();
    socket.send(
      encodeStreamPacket({ name, run: summary.run, seq, sentMs }),
      peerPort,
      peer,
      (err) => {
        const code = err ? ((err as NodeJS.ErrnoException).code ?? err.message) : null;
        if (code) summary.sendErrors[code] = (summary.sendErrors[code] ?? 0) + 1;
        file.push(sendLine(code ? { seq, sentMs, error: code } : { seq, sentMs }));
        if (code !== lastError) {
          if (code) log.warn({ code }, "stream send failing");
          else log.info("stream send working");
          lastError = code;
        }
      },
    );
    const now = performance.now();
    slot = nextSlot(slot, now - t0, periodMs);
    timer = setTimeout(tick, Math.max(0, t0 + slot * periodMs - now));
  };
  tick();

  if (!stopping.aborted) await once(stopping, "abort");
  clearTimeout(timer);
  await nextTurn(); // the last send's callback records it
  await close(socket);
  await file.close();
  if (broken.signal.aborted) throw broken.signal.reason;
  log.info({ summary }, "stream stopped");
  return summary;
}

async function close(socket: Socket): Promise<void> {
  await new Promise<void>((resolve) => socket.close(() => resolve()));
}
