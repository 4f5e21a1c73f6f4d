import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chown, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import type { Logger } from "../../../common/logger.ts";
import { type BgpModel, reloadLines, renderFrrConf } from "./render.ts";

/**
 * zebra and bgpd for the agent's BGP sessions (decision 0024): children of the agent, restarted
 * when they exit, configured from a BgpModel and reloaded through vtysh. The daemons drop to
 * FRR's own user, so their directory is under FRR's run directory (/run/frr, made by the frr
 * package), owned like it.
 */

const run = promisify(execFile);
export const FRR_BIN_DIR = "/usr/lib/frr";
export const FRR_RUN_DIR = "/run/frr";
const RESTART_MS = 1000;

export interface NeighborState {
  state: string;
  prefixesReceived: number;
}

/**
 * FRR's user, as owner of its run directory; the directory is made like the package's
 * tmpfiles.d does (owned like /etc/frr) where nothing made it since boot (no systemd).
 */
async function frrOwner(runDir: string): Promise<{ uid: number; gid: number }> {
  const existing = await stat(runDir).catch(() => undefined);
  if (existing) return existing;
  const conf = await stat("/etc/frr").catch(() => {
    throw new Error("FRR is not installed (no /etc/frr): install the frr package for BGP");
  });
  await mkdir(runDir, { recursive: true, mode: 0o755 });
  await chown(runDir, conf.uid, conf.gid);
  return conf;
}

export class Frr {
  readonly #dir: string;
  readonly #log: Logger;
  readonly #children = new Map<string, ChildProcess>();
  #model: BgpModel | undefined;
  #stopping = false;

  /** @param name distinguishes this agent's daemons from others' on the host */
  constructor(name: string, log: Logger, runDir = FRR_RUN_DIR) {
    this.#dir = join(runDir, `swanpair-${name}`);
    this.#log = log;
  }

  get running(): boolean {
    return this.#model !== undefined;
  }

  async start(model: BgpModel): Promise<void> {
    this.#stopping = false;
    this.#model = model;
    const owner = await frrOwner(dirname(this.#dir));
    await mkdir(this.#dir, { recursive: true, mode: 0o750 });
    await chown(this.#dir, owner.uid, owner.gid);
    await writeFile(this.#conf, renderFrrConf(model), { mode: 0o640 });
    await chown(this.#conf, owner.uid, owner.gid);
    await this.#killStale();
    this.#spawn("zebra", ["-f", "/dev/null"]);
    this.#spawn("bgpd", ["-f", this.#conf]);
  }

  /** Hitless: only what changed is configured (render.ts reloadLines); the file follows. */
  async reload(next: BgpModel): Promise<void> {
    const prev = this.#model;
    if (prev === undefined) return this.start(next);
    this.#model = next;
    const lines = reloadLines(prev, next);
    await writeFile(this.#conf, renderFrrConf(next), { mode: 0o640 });
    await this.#vtysh(["-c", "configure terminal", ...lines.flatMap((l) => ["-c", l.trim()])]);
  }

  /** Per neighbor address, bgpd's session state and the prefixes it accepted from it. */
  async neighbors(): Promise<Map<string, NeighborState>> {
    const text = await this.#vtysh(["-c", "show bgp ipv4 unicast summary json"]);
    const peers =
      (JSON.parse(text) as { peers?: Record<string, { state?: string; pfxRcd?: number }> }).peers ??
      {};
    return new Map(
      Object.entries(peers).map(([address, p]) => [
        address,
        { state: p.state ?? "unknown", prefixesReceived: p.pfxRcd ?? 0 },
      ]),
    );
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#model = undefined;
    const exits = [...this.#children.values()].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill("SIGTERM");
        }),
    );
    await Promise.all(exits);
    this.#children.clear();
    await rm(this.#dir, { recursive: true, force: true });
  }

  get #conf(): string {
    return join(this.#dir, "frr.conf");
  }

  #spawn(daemon: "zebra" | "bgpd", args: string[]): void {
    const d = this.#dir;
    const child = spawn(
      join(FRR_BIN_DIR, daemon),
      [
        ...args,
        ...["-i", join(d, `${daemon}.pid`), "-z", join(d, "zserv.api"), "--vty_socket", d],
        ...["--log", "stdout"],
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.#children.set(daemon, child);
    const log = this.#log.child({ component: daemon });
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on("data", (chunk: Buffer) => {
        for (const line of chunk.toString().split("\n").filter(Boolean)) log.info({ line }, "frr");
      });
    }
    child.on("error", (err) => log.warn({ err }, `cannot run ${daemon}`));
    child.on("exit", (code, signal) => {
      if (this.#stopping || this.#children.get(daemon) !== child) return;
      log.warn({ code, signal }, `${daemon} exited; restarting`);
      setTimeout(() => {
        if (!this.#stopping && this.#model) this.#spawn(daemon, args);
      }, RESTART_MS).unref();
    });
  }

  /** Daemons of an agent that was killed outlive it; their pid files name them. */
  async #killStale(): Promise<void> {
    for (const daemon of ["bgpd", "zebra"]) {
      const pid = Number(await readFile(join(this.#dir, `${daemon}.pid`), "utf8").catch(() => ""));
      if (!Number.isInteger(pid) || pid <= 1) continue;
      // A pid file outlives its process, and the pid may be another program's by now.
      const comm = await readFile(`/proc/${pid}/comm`, "utf8").catch(() => "");
      if (comm.trim() !== daemon) continue;
      try {
        process.kill(pid, "SIGTERM");
        this.#log.info({ daemon, pid }, "stopped a daemon an earlier agent left running");
      } catch {
        // gone already
      }
    }
  }

  async #vtysh(args: string[]): Promise<string> {
    const { stdout } = await run("vtysh", ["--vty_socket", this.#dir, ...args], { timeout: 5000 });
    return stdout;
  }
}
