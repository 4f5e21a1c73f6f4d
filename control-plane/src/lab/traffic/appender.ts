import { type FileHandle, open } from "node:fs/promises";

/**
 * Appends lines to a file, written out every flushMs: a writer killed with SIGKILL loses at
 * most that much. Writes go through libuv's thread pool, so a slow disk never stalls the
 * event loop that keeps the send schedule.
 */
export class LineAppender {
  readonly #file: FileHandle;
  readonly #timer: NodeJS.Timeout;
  #pending: string[] = [];
  #writing: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(file: FileHandle, flushMs: number, onError: (err: Error) => void) {
    this.#file = file;
    this.#timer = setInterval(() => this.#flush().catch(onError), flushMs);
  }

  /** A file that does not end in a newline had its writer killed mid-line: start a fresh one. */
  static async open(
    path: string,
    options: { flushMs: number; onError: (err: Error) => void },
  ): Promise<LineAppender> {
    const file = await open(path, "a+");
    let torn = false;
    try {
      const { size } = await file.stat();
      const last = Buffer.alloc(1);
      if (size > 0) await file.read(last, 0, 1, size - 1);
      torn = size > 0 && last[0] !== 0x0a;
    } catch (err) {
      await file.close();
      throw err;
    }
    const appender = new LineAppender(file, options.flushMs, options.onError);
    if (torn) appender.push("\n");
    return appender;
  }

  /** Lines pushed after close() are dropped: the file is done. */
  push(line: string): void {
    if (!this.#closed) this.#pending.push(line);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    try {
      await this.#flush();
    } finally {
      await this.#file.close();
    }
  }

  /** One write at a time, in order; a failed write fails every later flush too. */
  #flush(): Promise<void> {
    this.#writing = this.#writing.then(async () => {
      if (this.#pending.length === 0) return;
      const text = this.#pending.join("");
      this.#pending = [];
      await this.#file.appendFile(text);
    });
    return this.#writing;
  }
}
