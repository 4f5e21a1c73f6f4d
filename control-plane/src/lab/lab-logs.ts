import { dockerOutput } from "./docker.ts";

/**
 * The lab's processes log JSON lines (pino); the timeline is read from them. A line that is
 * not JSON (a shell's message) is skipped.
 */

export interface LogLine {
  atMs: number;
  container: string;
  fields: Record<string, unknown>;
}

export async function containerLog(container: string, sinceMs: number): Promise<LogLine[]> {
  const since = new Date(sinceMs - 1000).toISOString();
  // docker logs writes the container's stdout and stderr to its own two streams.
  const { stdout, stderr } = await dockerOutput(["logs", "--since", since, container]).catch(
    () => ({
      stdout: "",
      stderr: "",
    }),
  );
  return parseLogLines(`${stdout}\n${stderr}`, container).filter((l) => l.atMs >= sinceMs);
}

export function parseLogLines(text: string, container: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const fields = JSON.parse(line) as Record<string, unknown>;
      const atMs = Date.parse(String(fields.time));
      if (Number.isFinite(atMs)) out.push({ atMs, container, fields });
    } catch {
      // not a log line
    }
  }
  return out.sort((a, b) => a.atMs - b.atMs);
}
