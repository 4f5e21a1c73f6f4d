import { readFile } from "node:fs/promises";
import type { Arrival, Flow, Send } from "./analyze.ts";

/**
 * A stream endpoint's record file: JSON lines, appended only. Each run of the endpoint starts
 * with a header object; then its sends and the peer's arrivals as short arrays, in the order
 * they happened:
 *
 *   {"stream":1,"name":"a","run":305419896,"bind":"10.1.0.10","port":7300,...,"startMs":…}
 *   ["s",0,1767268800000.125]                        a send: seq, sentMs
 *   ["s",1,1767268800020.083,"ENETUNREACH"]          a send that failed locally
 *   ["r","b",2596069104,0,1767268800000.311,1767268800000.402]
 *                                                    an arrival: name, run, seq, sentMs, recvMs
 *
 * Times are wall-clock ms to the µs. A writer killed mid-line leaves a torn line; the next run
 * starts on a fresh line, so a torn line is always the last of its run.
 */

export interface StreamHeader {
  stream: 1;
  name: string;
  run: number;
  bind: string;
  port: number;
  peer: string;
  peerPort: number;
  ratePps: number;
  startMs: number;
}

export interface StreamRun {
  header: StreamHeader;
  sends: Send[];
}

/** An arrival, with the sender that sent it. */
export interface PeerArrival extends Arrival {
  name: string;
  run: number;
}

export interface StreamRecords {
  runs: StreamRun[];
  arrivals: PeerArrival[];
  /** The latest time in the file: its writer was recording at least until then. */
  lastMs: number | null;
  /** Lines a killed writer cut short, skipped. */
  torn: number;
}

const us = (ms: number) => Math.round(ms * 1000) / 1000;

export function headerLine(header: StreamHeader): string {
  return `${JSON.stringify({ ...header, startMs: us(header.startMs) })}\n`;
}

export function sendLine({ seq, sentMs, error }: Send): string {
  const fields = ["s", seq, us(sentMs)];
  return `${JSON.stringify(error === undefined ? fields : [...fields, error])}\n`;
}

export function arrivalLine(a: PeerArrival): string {
  return `${JSON.stringify(["r", a.name, a.run, a.seq, us(a.sentMs), us(a.recvMs)])}\n`;
}

type Line =
  | { kind: "header"; header: StreamHeader }
  | { kind: "send"; send: Send }
  | { kind: "arrival"; arrival: PeerArrival };

const num = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const str = (v: unknown): v is string => typeof v === "string";

function parseLine(line: string): Line | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (Array.isArray(value)) {
    const [tag, a, b, c, d, e] = value;
    if (tag === "s" && num(a) && num(b) && (c === undefined || str(c)) && value.length <= 4)
      return {
        kind: "send",
        send: c === undefined ? { seq: a, sentMs: b } : { seq: a, sentMs: b, error: c },
      };
    if (tag === "r" && str(a) && num(b) && num(c) && num(d) && num(e) && value.length === 6)
      return { kind: "arrival", arrival: { name: a, run: b, seq: c, sentMs: d, recvMs: e } };
    return null;
  }
  const h = value as Partial<StreamHeader> | null;
  if (h?.stream !== 1 || !str(h.name) || !num(h.run) || !num(h.ratePps) || !num(h.startMs))
    return null;
  if (!str(h.bind) || !num(h.port) || !str(h.peer) || !num(h.peerPort)) return null;
  return { kind: "header", header: h as StreamHeader };
}

/** Throws on a line that is neither a record nor a torn last line of its run. */
export function parseStreamRecords(text: string, source = "stream records"): StreamRecords {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const records: StreamRecords = { runs: [], arrivals: [], lastMs: null, torn: 0 };
  const later = (ms: number) => {
    records.lastMs = Math.max(records.lastMs ?? ms, ms);
  };
  const parsed = lines.map(parseLine);
  parsed.forEach((line, i) => {
    const where = `${source}:${i + 1}`;
    if (line === null) {
      const next = parsed[i + 1];
      if (next !== undefined && next?.kind !== "header")
        throw new Error(`${where}: not a stream record`);
      records.torn++;
    } else if (line.kind === "header") {
      records.runs.push({ header: line.header, sends: [] });
      later(line.header.startMs);
    } else if (line.kind === "send") {
      const run = records.runs.at(-1);
      if (!run) throw new Error(`${where}: a send before any header`);
      run.sends.push(line.send);
      later(line.send.sentMs);
    } else {
      records.arrivals.push(line.arrival);
      later(line.arrival.recvMs);
    }
  });
  return records;
}

export async function readStreamRecords(file: string): Promise<StreamRecords> {
  return parseStreamRecords(await readFile(file, "utf8"), file);
}

/**
 * One flow per run of the sender: its sends and what of them the receiver recorded, in the
 * window the receiver's file covers (from its first start to its last record).
 */
export function flows(sender: StreamRecords, receiver: StreamRecords): Flow[] {
  return sender.runs.map(({ header, sends }) => ({
    ratePps: header.ratePps,
    startMs: header.startMs,
    sends,
    arrivals: receiver.arrivals.filter((a) => a.run === header.run && a.name === header.name),
    ...(receiver.runs[0] && { receiverStartMs: receiver.runs[0].header.startMs }),
    ...(receiver.lastMs !== null && { receiverEndMs: receiver.lastMs }),
  }));
}
