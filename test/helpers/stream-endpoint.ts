import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import type { Test } from "tap";
import { nsSpawn, stopChild } from "./netns.ts";

/** `swanpair lab stream` as tests run it: one UDP sequence endpoint (lab-stream-bin.ts). */

export const STREAM_BIN = resolve(import.meta.dirname, "lab-stream-bin.ts");

export interface Endpoint {
  child: ChildProcess;
  /** Resolves once it logged "stream started". */
  started: Promise<void>;
  /** SIGTERM, then its exit code and what it printed on stdout. */
  stop(): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** In namespace `ns`, or without one on this host's loopback. */
export function endpoint(t: Test, ns: string | undefined, args: string[]): Endpoint {
  const argv = [STREAM_BIN, "lab", "stream", ...args];
  const stdio: SpawnOptions = { stdio: ["ignore", "pipe", "pipe"] };
  const child = ns
    ? nsSpawn(ns, process.execPath, argv, stdio)
    : spawn(process.execPath, argv, stdio);
  t.teardown(() => stopChild(child, "SIGKILL"));
  let stdout = "";
  const stderr: string[] = [];
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const started = new Promise<void>((resolveStart, reject) => {
    createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (line) => {
      stderr.push(line);
      if (line.includes('"msg":"stream started"')) resolveStart();
    });
    child.once("exit", (code) => reject(new Error(`exited (${code}): ${stderr.join("\n")}`)));
  });
  return {
    child,
    started,
    async stop() {
      await stopChild(child);
      return { code: child.exitCode, stdout, stderr: stderr.join("\n") };
    },
  };
}
