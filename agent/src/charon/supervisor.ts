import { type ChildProcess, spawn } from "node:child_process";
import { open, readFile, rm, stat } from "node:fs/promises";
import { writeFileAtomic } from "../../../common/atomic-write.ts";
import type { Logger } from "../../../common/logger.ts";
import { type BackoffPolicy, nextRestartDelay } from "./backoff.ts";
import { exitReason } from "./exit-reason.ts";

export interface SupervisorOptions {
  binary: string;
  strongswanConf: string;
  /** Where the child's pid is kept, so an orphan left by a crashed agent can be reaped. */
  pidFile: string;
  /** charon's own log (the rendered filelog): the reason for an exit is read from it. */
  logFile: string;
  logger: Logger;
  backoff?: BackoffPolicy;
  crashLoop?: CrashLoopPolicy;
}

/** `count` exits in a row, each within `quickMs` of its start, make a crash loop. */
export interface CrashLoopPolicy {
  quickMs: number;
  count: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LastExit extends ExitInfo {
  /** ISO time of the exit. */
  at: string;
  /** How long that charon ran. */
  ranMs: number;
  /** From charon's log and stderr of that run; null when it wrote nothing. */
  reason: string | null;
}

export type SupervisorState = "running" | "restarting" | "crash-loop" | "stopped";

const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 10_000, resetAfterMs: 30_000 };
const DEFAULT_CRASH_LOOP: CrashLoopPolicy = { quickMs: 5000, count: 3 };
/** Enough of a run's output for the reason; a chatty charon's older lines do not matter. */
const OUTPUT_TAIL_BYTES = 16 * 1024;

/**
 * Runs charon-systemd as a child and restarts it when it dies. The first crash after a
 * stable period restarts at once (the failover budget is tight); repeated crashes back off.
 * Quick exits in a row are a crash loop: it keeps retrying (the cause may be fixed, e.g. a
 * package installed) but reports the state and charon's own reason.
 */
export class CharonSupervisor {
  readonly #opts: SupervisorOptions;
  readonly #backoff: BackoffPolicy;
  readonly #crashLoop: CrashLoopPolicy;
  #child: ChildProcess | undefined;
  #started = false;
  #stopping = false;
  #restartTimer: NodeJS.Timeout | undefined;
  #startedAt = 0;
  #crashStreak = 0;
  #quickExits = 0;
  #restarts = 0;
  #lastExit: LastExit | null = null;
  /** Where this run's lines start in charon's log, and its stderr so far. */
  #logOffset = 0;
  #stderr = "";
  #onStart: ((pid: number) => void)[] = [];
  #onExit: ((info: ExitInfo) => void)[] = [];

  constructor(opts: SupervisorOptions) {
    this.#opts = opts;
    this.#backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.#crashLoop = opts.crashLoop ?? DEFAULT_CRASH_LOOP;
  }

  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  get restarts(): number {
    return this.#restarts;
  }

  get lastExit(): LastExit | null {
    return this.#lastExit;
  }

  /** A charon that has outlived `quickMs` ends a crash loop, even before it exits again. */
  get state(): SupervisorState {
    if (!this.#started || this.#stopping) return "stopped";
    const alive = this.#child !== undefined;
    const proven = alive && Date.now() - this.#startedAt >= this.#crashLoop.quickMs;
    if (this.#quickExits >= this.#crashLoop.count && !proven) return "crash-loop";
    return alive ? "running" : "restarting";
  }

  onStart(cb: (pid: number) => void) {
    this.#onStart.push(cb);
  }

  onExit(cb: (info: ExitInfo) => void) {
    this.#onExit.push(cb);
  }

  async start(): Promise<void> {
    this.#stopping = false;
    this.#started = true;
    await this.#reapOrphan();
    await this.#spawn();
  }

  async stop(timeoutMs = 5000): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      await exited;
      clearTimeout(killer);
    }
    await rm(this.#opts.pidFile, { force: true });
  }

  async #spawn() {
    const { binary, strongswanConf, logger } = this.#opts;
    this.#logOffset = await stat(this.#opts.logFile).then(
      (s) => s.size,
      () => 0,
    );
    this.#stderr = "";
    if (this.#stopping) return;
    // A minimal environment: nothing of the agent's own environment reaches charon.
    const child = spawn(binary, [], {
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", STRONGSWAN_CONF: strongswanConf },
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.#child = child;
    this.#startedAt = Date.now();
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-OUTPUT_TAIL_BYTES);
      for (const line of chunk.split("\n"))
        if (line) logger.debug({ charon: line }, "charon stderr");
    });
    // A binary that cannot be executed emits "error" and no "exit".
    child.once("error", (error) => {
      logger.error({ err: error, binary }, "cannot start charon");
      this.#stderr += `\ncannot start ${binary}: ${error.message}`;
      if (child.pid === undefined) void this.#handleExit(child, { code: null, signal: null });
    });
    child.once("spawn", () => {
      const pid = child.pid as number;
      logger.info({ pid }, "charon started");
      writeFileAtomic(this.#opts.pidFile, `${pid}\n`).catch((error) =>
        logger.warn({ err: error }, "cannot write charon pid file"),
      );
      for (const cb of this.#onStart) cb(pid);
    });
    child.once("exit", (code, signal) => void this.#handleExit(child, { code, signal }));
  }

  async #handleExit(child: ChildProcess, info: ExitInfo) {
    if (this.#child !== child) return;
    this.#child = undefined;
    for (const cb of this.#onExit) cb(info);
    if (this.#stopping) return;
    const ranMs = Date.now() - this.#startedAt;
    this.#crashStreak = ranMs >= this.#backoff.resetAfterMs ? 1 : this.#crashStreak + 1;
    this.#quickExits = ranMs < this.#crashLoop.quickMs ? this.#quickExits + 1 : 0;
    const reason = exitReason(`${await this.#runLog()}\n${this.#stderr}`);
    this.#lastExit = { ...info, at: new Date().toISOString(), ranMs, reason };
    const delay = nextRestartDelay(this.#crashStreak, this.#backoff);
    const fields = { ...info, ranMs, reason, restartInMs: delay };
    if (this.#quickExits === this.#crashLoop.count) {
      this.#opts.logger.error(
        { ...fields, quickExits: this.#quickExits },
        `charon is in a crash loop: ${reason ?? "it wrote nothing"}`,
      );
    } else {
      this.#opts.logger.warn(fields, "charon exited; restarting");
    }
    if (this.#stopping) return;
    this.#restartTimer = setTimeout(() => {
      this.#restarts++;
      void this.#spawn();
    }, delay);
  }

  /** What charon wrote to its log during the run that just ended (its last part). */
  async #runLog(): Promise<string> {
    const handle = await open(this.#opts.logFile, "r").catch(() => undefined);
    if (!handle) return "";
    try {
      const { size } = await handle.stat();
      const from = Math.max(this.#logOffset, size - OUTPUT_TAIL_BYTES);
      const buffer = Buffer.alloc(Math.max(0, size - from));
      await handle.read(buffer, 0, buffer.length, from);
      return buffer.toString("utf8");
    } finally {
      await handle.close();
    }
  }

  /** A charon left running by an agent that was killed holds the ports and the socket. */
  async #reapOrphan() {
    const pid = Number.parseInt(await readFile(this.#opts.pidFile, "utf8").catch(() => ""), 10);
    if (!Number.isInteger(pid) || pid <= 1) return;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (!cmdline.startsWith(this.#opts.binary)) return;
    this.#opts.logger.warn({ pid }, "killing charon left over from an earlier agent");
    process.kill(pid, "SIGKILL");
    const alive = async () =>
      (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")) !== "";
    for (let i = 0; i < 100 && (await alive()); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
