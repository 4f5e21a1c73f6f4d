import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

let writes = 0;

/**
 * Writes a file so that readers see the old or the new content, never a torn one:
 * temp file in the same directory, fsync, rename. The mode is set at creation, so a
 * secret is never readable by others even for a moment.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644) {
  // Unique to this process and this call ("wx" refuses any file already there); not random,
  // which would load node:crypto into the agent for nothing else (decision 0008).
  const unique = `${process.pid}.${Date.now().toString(36)}.${++writes}`;
  const tmp = join(dirname(path), `.${basename(path)}.${unique}.tmp`);
  const handle = await open(tmp, "wx", mode);
  try {
    await handle.writeFile(data);
    await handle.chmod(mode);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(tmp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}
