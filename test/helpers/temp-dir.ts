import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Test } from "tap";

/**
 * A fresh directory removed when `t` ends, pass or fail. Short and under /tmp, because a Unix
 * socket path inside it must fit in 108 bytes.
 */
export async function tempDir(t: Pick<Test, "teardown">, prefix = "swp-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
