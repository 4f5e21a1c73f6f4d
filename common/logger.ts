import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger } from "pino";

/** Paths that may hold a secret anywhere in a log object. Secret instances print as [redacted] too. */
const REDACT = [
  "psk",
  "*.psk",
  "*.*.psk",
  "secret",
  "*.secret",
  "data",
  "*.data",
  "password",
  "*.password",
];

export function createLogger(
  options: { name: string; level?: string },
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? process.env.SWANPAIR_LOG_LEVEL ?? "info",
      redact: { paths: REDACT, censor: "[redacted]" },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ dest: 2, sync: true }),
  );
}
