import { LabError } from "./lab-error.ts";

/**
 * Waits for a condition, telling progress what it is still waiting for at most every 5 s.
 * `check` answers true, or what is missing.
 */
export async function waitUntil(
  what: string,
  timeoutMs: number,
  check: () => Promise<true | { not: string }>,
  progress: (line: string) => void,
  everyMs = 500,
): Promise<void> {
  const start = Date.now();
  let said = start;
  let last = "";
  for (;;) {
    const r = await check().catch((err: Error) => ({ not: err.message }));
    if (r === true) {
      progress(`${what} (${((Date.now() - start) / 1000).toFixed(1)} s)`);
      return;
    }
    last = r.not;
    if (Date.now() - start > timeoutMs) {
      throw new LabError(`timed out after ${timeoutMs / 1000} s waiting for ${what}: ${last}`);
    }
    if (Date.now() - said >= 5000) {
      progress(`waiting for ${what}: ${last}`);
      said = Date.now();
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
