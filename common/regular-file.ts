import { constants, type Stats } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";

/** "EACCES: permission denied" without the path Node appends; callers name the file. */
export function errnoText(err: unknown): string {
  return err instanceof Error ? err.message.replace(/, \w+ '.*'$/, "") : String(err);
}

export type RegularFile =
  | { ok: true; handle: FileHandle; stats: Stats }
  | { ok: false; kind: "missing" | "not-regular" | "unreadable"; reason: string };

/**
 * Opens a file named in a config, for its checks: never blocks (a FIFO named by mistake must
 * not hang the daemon), and stats the open handle, so what is checked is what gets read. The
 * caller closes the handle.
 */
export async function openRegularFile(path: string): Promise<RegularFile> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      return { ok: false, kind: "missing", reason: "does not exist" };
    }
    return { ok: false, kind: "unreadable", reason: errnoText(err) };
  }
  try {
    const stats = await handle.stat();
    if (stats.isFile()) return { ok: true, handle, stats };
    await handle.close();
    return { ok: false, kind: "not-regular", reason: "not a regular file" };
  } catch (err) {
    await handle.close();
    return { ok: false, kind: "unreadable", reason: errnoText(err) };
  }
}
