import { EXIT, ExitError, emit } from "../../../common/cli.ts";
import { createLogger } from "../../../common/logger.ts";
import {
  DEFAULT_RATE_PPS,
  runStream,
  type StreamOptions,
  streamProblem,
} from "../lab/traffic/stream.ts";
import type { Verb } from "./shared.ts";

/** `swanpair lab stream`: one traffic endpoint, run inside a workload host's container. */

const DEFAULT_PORT = 7300;

interface StreamFlags {
  bind: string;
  peer: string;
  out: string;
  port: string;
  peerPort?: string;
  rate: string;
  name?: string;
  json?: boolean;
}

function number(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n)) {
    throw new ExitError(EXIT.usage, `${flag} ${value}: not a number`);
  }
  return n;
}

export const labStream: Verb = {
  path: "lab stream",
  examples: [
    "swanpair lab stream --bind 10.1.1.10 --peer 10.2.1.10 --out /var/lib/swanpair/stream.jsonl",
    "swanpair lab stream --bind 10.2.1.10 --peer 10.1.1.10 --rate 100 --name host-b --out b.jsonl",
  ],
  register: (parent) =>
    parent
      .command("stream")
      .description(
        "send a UDP sequence stream to --peer at a steady rate and record every send and every arrival from the peer in --out (JSON lines); runs until SIGTERM or SIGINT, then prints its counts",
      )
      .requiredOption("--bind <address>", "the IP address to send from and receive on")
      .requiredOption("--peer <address>", "the peer endpoint's IP address")
      .requiredOption("--out <file>", "the record file, appended to")
      .option("--port <port>", "the UDP port to bind", String(DEFAULT_PORT))
      .option("--peer-port <port>", "the peer's UDP port (default: --port)")
      .option("--rate <pps>", "packets per second to the peer", String(DEFAULT_RATE_PPS))
      .option("--name <name>", "the name the packets carry (default: the host name)")
      .option("--json", "print the counts as JSON")
      .action(async (flags: StreamFlags) => {
        const port = number("--port", flags.port);
        const options: StreamOptions = {
          bind: flags.bind,
          port,
          peer: flags.peer,
          peerPort: flags.peerPort === undefined ? port : number("--peer-port", flags.peerPort),
          ratePps: number("--rate", flags.rate),
          out: flags.out,
          ...(flags.name !== undefined && { name: flags.name }),
        };
        const problem = streamProblem(options);
        if (problem) throw new ExitError(EXIT.usage, problem);
        const abort = new AbortController();
        const stop = () => abort.abort();
        process.once("SIGTERM", stop);
        process.once("SIGINT", stop);
        try {
          const summary = await runStream({
            ...options,
            signal: abort.signal,
            log: createLogger({ name: "swanpair-lab-stream" }),
          });
          emit(flags.json, summary, () => {
            const errors = Object.entries(summary.sendErrors).map(([c, n]) => `${c} ${n}`);
            const failed = errors.length ? ` (failed: ${errors.join(", ")})` : "";
            return `${summary.name}: sent ${summary.sent}${failed}, received ${summary.received}, malformed ${summary.malformed}; records in ${flags.out}`;
          });
        } catch (err) {
          // A bind or file error (EADDRNOTAVAIL, ENOENT): the operator's to fix, not a bug.
          if ((err as NodeJS.ErrnoException).code)
            throw new ExitError(EXIT.failed, (err as Error).message);
          throw err;
        } finally {
          process.off("SIGTERM", stop);
          process.off("SIGINT", stop);
        }
      }),
};
