import { type ChildProcess, spawn } from "node:child_process";
import type { ProbeReading } from "../../../common/agent-api/status.ts";
import type { Logger } from "../../../common/logger.ts";
import type { RiseFallThresholds } from "../../../common/rise-fall.ts";
import { ProbeTally } from "./probe-tally.ts";

/**
 * An ICMP echo probe of an address that runs no swanpair agent (AWS's inside address of a VPN
 * tunnel, an icmp path's host), through iputils `ping`: Node has no raw sockets. One
 * long-running ping per target, its lines read as they come: a reply, or "no answer yet" (-O)
 * once the next echo leaves.
 */

export interface PingerOptions extends RiseFallThresholds {
  target: string;
  /** The address the echoes leave from (ping -I); default: the kernel's choice. */
  source?: string | undefined;
  intervalMs: number;
  log: Logger;
  /** The ping program; tests may point it elsewhere. */
  binary?: string;
}

/** One line of `ping -n -O` output as a result, keyed by icmp_seq; undefined for other lines. */
export function parsePingLine(line: string): { seq: number; rttMs: number | null } | undefined {
  const seq = /icmp_seq=(\d+)/.exec(line)?.[1];
  if (seq === undefined) return undefined;
  const rtt = /time[=<]([\d.]+) ms/.exec(line)?.[1];
  if (rtt !== undefined && /bytes from/.test(line)) return { seq: Number(seq), rttMs: Number(rtt) };
  // "no answer yet", "Destination Host Unreachable", "Request timeout" and the like.
  return { seq: Number(seq), rttMs: null };
}

export class Pinger {
  readonly #opts: PingerOptions;
  readonly #log: Logger;
  readonly #tally: ProbeTally;
  /** The first outcome of a sequence number counts: a reply after "no answer yet" is late. */
  readonly #settled = new Set<number>();
  #child: ChildProcess | undefined;
  #stopped = true;
  #restart: NodeJS.Timeout | undefined;

  constructor(opts: PingerOptions) {
    this.#opts = opts;
    this.#log = opts.log.child({ component: "pinger", target: opts.target });
    this.#tally = new ProbeTally(opts, this.#log);
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#spawn();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restart);
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  }

  snapshot(): ProbeReading {
    return this.#tally.snapshot();
  }

  onChange(listener: (status: ProbeReading) => void): () => void {
    return this.#tally.onChange(listener);
  }

  #spawn(): void {
    const { source, target } = this.#opts;
    const seconds = (this.#opts.intervalMs / 1000).toFixed(3);
    const from = source === undefined ? [] : ["-I", source];
    // -W: a reply later than the interval counts as lost, as the UDP probes do.
    const args = ["-n", "-O", "-i", seconds, "-W", seconds, ...from, target];
    const child = spawn(this.#opts.binary ?? "ping", args, { stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    this.#settled.clear();
    // node:readline only here, where an icmp probe starts: an agent without one never loads it.
    const { createInterface } = process.getBuiltinModule("node:readline");
    createInterface({ input: child.stdout }).on("line", (line) => this.#onLine(line));
    let why = "";
    child.stderr.on("data", (chunk: Buffer) => {
      why = `${why}${chunk}`.slice(-500);
    });
    child.on("error", (err) => this.#log.warn({ err }, "cannot run ping"));
    child.on("exit", (code) => {
      if (this.#stopped || this.#child !== child) return;
      // No route yet (ipsec0 without its address): a lost probe, and another try.
      this.#log.debug({ code, stderr: why.trim() }, "ping exited; restarting");
      this.#tally.sent();
      this.#tally.record(null);
      this.#restart = setTimeout(() => this.#spawn(), this.#opts.intervalMs);
    });
  }

  #onLine(line: string): void {
    const result = parsePingLine(line);
    if (!result || this.#settled.has(result.seq)) return;
    this.#settled.add(result.seq);
    if (this.#settled.size > 64) this.#settled.delete(Math.min(...this.#settled));
    this.#tally.sent();
    this.#tally.record(result.rttMs);
  }
}
