import { type ChildProcess, execFile, spawn } from "node:child_process";
import { resolve } from "node:path";
import { FAKE_CREDENTIALS } from "./aws-env.ts";
import { stopChild } from "./netns.ts";

/** The real `swanpair` CLI, spawned as an operator runs it, with fake credentials only. */

export const SWANPAIR_BIN = resolve(import.meta.dirname, "../../control-plane/bin/swanpair.ts");

/**
 * The child gets fake credentials and nothing AWS-related from this environment, so that no
 * real profile, key or endpoint override can reach it.
 */
export function childEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_")),
  );
  return {
    ...env,
    ...FAKE_CREDENTIALS,
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    AWS_EC2_METADATA_DISABLED: "true",
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a CLI (a .ts bin, or an executable) as a process; `env` replaces the environment. */
export function spawnCli(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<CliResult> {
  const [file, argv] = bin.endsWith(".ts") ? [process.execPath, [bin, ...args]] : [bin, args];
  return new Promise((done) => {
    execFile(
      file,
      argv,
      { env, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/**
 * The same on a pseudo-terminal (util-linux `script`), for what a CLI does only on a terminal,
 * such as colour. stdout and stderr arrive together, with \r\n line ends; the code is the CLI's.
 */
export function spawnCliOnTty(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<CliResult> {
  const sh = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const command = [process.execPath, bin, ...args].map(sh).join(" ");
  return spawnCli(
    "/usr/bin/script",
    ["--quiet", "--return", "--command", command, "/dev/null"],
    env,
  );
}

export function swanpair(...args: string[]): Promise<CliResult> {
  return spawnCli(SWANPAIR_BIN, args, childEnv());
}

/** A running `swanpair controller run`, its status endpoint found from its log. */
export interface RunningController {
  child: ChildProcess;
  /** http://127.0.0.1:PORT */
  url: string;
  /** Parsed JSON log lines so far. */
  log: Array<Record<string, unknown>>;
  status(): Promise<ControllerStatusJson>;
  metrics(): Promise<string>;
  /** SIGTERM and wait (graceful); resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: a crash, nothing flushed. */
  kill(): Promise<void>;
}

// biome-ignore lint/suspicious/noExplicitAny: the endpoint's JSON is checked field by field in tests.
export type ControllerStatusJson = any;

/** `env` adds to childEnv(), e.g. SWANPAIR_IMDS_ENDPOINT. */
export async function startController(
  t: { teardown(fn: () => unknown): void },
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<RunningController> {
  const child = spawn(
    process.execPath,
    [SWANPAIR_BIN, "controller", "run", "--listen", "127.0.0.1:0", ...args],
    {
      env: { ...childEnv(), SWANPAIR_LOG_LEVEL: "debug", ...env },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  const log: Array<Record<string, unknown>> = [];
  let raw = "";
  let rest = "";
  const port = new Promise<number>((resolvePort, reject) => {
    child.stderr?.on("data", (chunk: Buffer) => {
      rest += chunk.toString();
      raw = (raw + chunk.toString()).slice(-4000);
      const lines = rest.split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          log.push(entry);
          if (entry.msg === "controller status listening") resolvePort(entry.port as number);
        } catch {
          // not a log line (a crash trace): kept in `raw` for the error below
        }
      }
    });
    child.once("exit", (code) =>
      reject(new Error(`controller exited (${code}) before listening: ${raw}`)),
    );
  });
  t.teardown(() => stopChild(child));
  const url = `http://127.0.0.1:${await port}`;
  return {
    child,
    url,
    log,
    status: async () => (await fetch(`${url}/v1/status`)).json(),
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    async stop() {
      await stopChild(child);
      return child.exitCode;
    },
    kill: () => stopChild(child, "SIGKILL"),
  };
}
