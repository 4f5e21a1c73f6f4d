import { type ChildProcess, spawn } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { writeFileAtomic } from "../../../common/atomic-write.ts";
import type { Logger } from "../../../common/logger.ts";
import { type BackoffPolicy, nextRestartDelay } from "./backoff.ts";

export interface SupervisorOptions {
  binary: string;
  strongswanConf: string;
  /** Where the child's pid is kept, so an orphan left by a crashed agent can be reaped. */
  pidFile: string;
  logger: Logger;
  backoff?: BackoffPolicy;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 10_000, resetAfterMs: 30_000 };

/**
 * Runs charon-systemd as a child and restarts it when it dies. The first crash after a
 * stable period restarts at once (the failover budget is tight); repeated crashes back off.
 */
export class CharonSupervisor {
  readonly #opts: SupervisorOptions;
  readonly #backoff: BackoffPolicy;
  #child: ChildProcess | undefined;
  #stopping = false;
  #restartTimer: NodeJS.Timeout | undefined;
  #startedAt = 0;
  #crashStreak = 0;
  #restarts = 0;
  #onStart: ((pid: number) => void)[] = [];
  #onExit: ((info: ExitInfo) => void)[] = [];

  constructor(opts: SupervisorOptions) {
    this.#opts = opts;
    this.#backoff = opts.backoff ?? DEFAULT_BACKOFF;
  }

  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  get restarts(): number {
    return this.#restarts;
  }

  onStart(cb: (pid: number) => void) {
    this.#onStart.push(cb);
  }

  onExit(cb: (info: ExitInfo) => void) {
    this.#onExit.push(cb);
  }

  async start(): Promise<void> {
    this.#stopping = false;
    await this.#reapOrphan();
    this.#spawn();
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

  #spawn() {
    const { binary, strongswanConf, logger } = this.#opts;
    // A minimal environment: nothing of the agent's own environment reaches charon.
    const child = spawn(binary, [], {
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", STRONGSWAN_CONF: strongswanConf },
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.#child = child;
    this.#startedAt = Date.now();
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      for (const line of chunk.split("\n"))
        if (line) logger.debug({ charon: line }, "charon stderr");
    });
    child.once("error", (error) => logger.error({ err: error, binary }, "cannot start charon"));
    child.once("spawn", () => {
      const pid = child.pid as number;
      logger.info({ pid }, "charon started");
      writeFileAtomic(this.#opts.pidFile, `${pid}\n`).catch((error) =>
        logger.warn({ err: error }, "cannot write charon pid file"),
      );
      for (const cb of this.#onStart) cb(pid);
    });
    child.once("exit", (code, signal) => this.#handleExit(child, { code, signal }));
  }

  #handleExit(child: ChildProcess, info: ExitInfo) {
    if (this.#child !== child) return;
    for (const cb of this.#onExit) cb(info);
    if (this.#stopping) return;
    const ranMs = Date.now() - this.#startedAt;
    this.#crashStreak = ranMs >= this.#backoff.resetAfterMs ? 1 : this.#crashStreak + 1;
    const delay = nextRestartDelay(this.#crashStreak, this.#backoff);
    this.#opts.logger.warn({ ...info, ranMs, restartInMs: delay }, "charon exited; restarting");
    this.#restartTimer = setTimeout(() => {
      this.#restarts++;
      this.#spawn();
    }, delay);
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
