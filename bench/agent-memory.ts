/**
 * The agent's memory as installed, and what its V8 flags cost (decision 0008; needs root).
 * bench/agent.ts takes installedAgentBench() from here for `npm run bench`; run alone, this
 * measures the flags' price in more detail, each way the agent is run:
 *
 *   node bench/agent-memory.ts [--runs N] [--idle S]     writes bench/results/agent-memory.json
 *
 *  - idle RSS with 50 tunnels (probes every 100 ms, as bench/agent.ts), S seconds after start
 *  - idle CPU with 50 tunnels, probes every 1000 ms and every 100 ms (ticks over 30 s)
 *  - a 500-tunnel config: from start to all loaded, and reloads with one and with all changed
 *
 * "Installed" is the packaged wrapper (images/package/bin/swanpair-agent) in a tree laid out as
 * the package lays it out (bin/, node/bin/node, agent/), run as the unit runs it: the wrapper
 * with `run --config`. The Node is the one running this script, which the package ships.
 */
import type { ChildProcess } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { ApiClient } from "../common/agent-api/client.ts";
import { buildAgent } from "../scripts/build.ts";
import { AgentLab, waitFor } from "../test/helpers/agent-lab.ts";
import { nsSpawn, stopChild } from "../test/helpers/netns.ts";
import { median } from "./median.ts";
import { peerTunnels } from "./peer-tunnels.ts";

const ROOT = resolve(import.meta.dirname, "..");
const OUT = resolve(import.meta.dirname, "results/agent-memory.json");
const WRAPPER = resolve(ROOT, "images/package/bin/swanpair-agent");
/** What the agent ran with before decision 0008's flags: the bundle's V8 flag alone. */
export const PREVIOUS_FLAGS = ["--max-semi-space-size=1"];

const round = (x: number, places = 1) => Math.round(x * 10 ** places) / 10 ** places;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How to start the agent: a program and its arguments before `run --config FILE`. */
export interface AgentCommand {
  label: string;
  cmd: string;
  args: string[];
  env?: Record<string, string>;
}

/**
 * The installed file tree's programs in `dir`: the agent's bundle in agent/, the wrapper in
 * bin/, this Node as node/bin/node. Returns the wrapper, as the unit's ExecStart runs it.
 */
export async function stageInstalled(dir: string): Promise<AgentCommand> {
  await buildAgent(join(dir, "agent"));
  await mkdir(join(dir, "bin"), { recursive: true });
  await mkdir(join(dir, "node/bin"), { recursive: true });
  await copyFile(WRAPPER, join(dir, "bin/swanpair-agent"));
  await symlink(process.execPath, join(dir, "node/bin/node"));
  return { label: "installed wrapper", cmd: join(dir, "bin/swanpair-agent"), args: [] };
}

/** The same bundle started by node with `flags` and a clean environment: no wrapper. */
export function bundleWith(dir: string, label: string, flags: string[]): AgentCommand {
  return { label, cmd: process.execPath, args: [...flags, join(dir, "agent/swanpair-agent.mjs")] };
}

function startIn(lab: AgentLab, agent: AgentCommand): ChildProcess {
  // ip netns exec execs the program: the child's pid is the agent's (after the wrapper's exec).
  return nsSpawn(lab.ns("a"), agent.cmd, [...agent.args, "run", "--config", lab.configPath("a")], {
    stdio: "ignore",
    // A shebang's `env node` finds this Node first, as AgentLab.startAgent arranges.
    env: {
      PATH: `${dirname(process.execPath)}:${process.env.PATH ?? "/usr/bin:/bin"}`,
      ...agent.env,
    },
  });
}

async function stop(lab: AgentLab, child: ChildProcess) {
  await stopChild(child);
  await waitFor("agent gone", async () => (await lab.status("a")) === null, 10_000);
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024);
}

/** CPU ticks (user + system, 1/100 s) the process has used. */
async function cpuTicks(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
  return Number(fields[11]) + Number(fields[12]);
}

/** 50 tunnels: own identities, not started, each with its probe every `intervalMs`. */
async function writeFiftyTunnels(lab: AgentLab, intervalMs: number) {
  const tunnels = Array.from({ length: 50 }, (_, i) => ({
    name: `t${i}`,
    subnet: i,
    probe: true,
    ownIds: true,
    extra: { startAction: "none" },
  }));
  const config = lab.config("a", tunnels);
  for (const t of config.tunnels) Object.assign(t.probe ?? {}, { intervalMs });
  await lab.writeRawConfig("a", stringify(config));
}

async function running(lab: AgentLab) {
  await waitFor(
    "agent running",
    async () => (await lab.status("a"))?.charon.state === "running",
    60_000,
  );
}

/**
 * RSS of an idle agent with 50 tunnels, `seconds` after it answered its API, once per run; and
 * its CPU over the last 30 s of each run.
 */
export async function idleRss(
  agent: AgentCommand,
  { runs = 5, seconds = 60, probeIntervalMs = 100 } = {},
): Promise<{ mb: number; samples: number[]; cpuPercent: number }> {
  const lab = await AgentLab.create("swp-bench-mem", { subnets: 50 });
  const samples: number[] = [];
  const cpu: number[] = [];
  try {
    await writeFiftyTunnels(lab, probeIntervalMs);
    for (let run = 0; run < runs; run++) {
      const child = startIn(lab, agent);
      const pid = child.pid as number;
      await running(lab);
      const window = Math.min(30, seconds);
      await sleep((seconds - window) * 1000);
      const ticks = await cpuTicks(pid);
      const start = performance.now();
      await sleep(window * 1000);
      cpu.push(((await cpuTicks(pid)) - ticks) / ((performance.now() - start) / 1000));
      samples.push(await rssMb(pid));
      await stop(lab, child);
    }
  } finally {
    await lab.cleanup();
  }
  return { mb: median(samples), samples, cpuPercent: round(median(cpu), 2) };
}

/**
 * The installed agent's figures in `npm run bench`: idle RSS with 50 tunnels after 60 s (median
 * of 5) and a 500-tunnel reload through its API, as installed and with the previous flags.
 */
export async function installedAgentBench(runs = 5, seconds = 60) {
  const dir = await mkdtemp("/tmp/swp-bench-installed-");
  try {
    const installed = await stageInstalled(dir);
    const previous = bundleWith(dir, "previous flags", PREVIOUS_FLAGS);
    const shipped = await idleRss(installed, { runs, seconds });
    const before = await idleRss(previous, { runs: 1, seconds });
    const reload = await reload500(installed, 3);
    const reloadBefore = await reload500(previous, 3);
    return {
      idle_rss_50_tunnels_mb: shipped.mb,
      idle_rss_50_tunnels_samples_mb: shipped.samples,
      idle_rss_50_tunnels_seconds: seconds,
      idle_cpu_percent_50_tunnels_100ms: shipped.cpuPercent,
      idle_rss_50_tunnels_previous_flags_mb: before.mb,
      idle_cpu_percent_50_tunnels_100ms_previous_flags: before.cpuPercent,
      installed_reload_500_one_changed_ms: reload.reload_500_one_changed_ms,
      installed_reload_500_all_changed_ms: reload.reload_500_all_changed_ms,
      installed_reload_500_one_changed_previous_flags_ms: reloadBefore.reload_500_one_changed_ms,
      installed_reload_500_all_changed_previous_flags_ms: reloadBefore.reload_500_all_changed_ms,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** 500 tunnels to one peer, no probes, not started: what a reload has to validate and render. */
function fiveHundred(lab: AgentLab, dpdDelayS: (i: number) => number) {
  const base = lab.config("a", []);
  return stringify({
    ...base,
    log: { level: "info" },
    tunnels: peerTunnels(500, {
      remoteAddress: "198.18.0.2",
      ids: ["a1", "b1"],
      psk: () => join(lab.dir, "psk"),
      dpdDelayS,
    }),
  });
}

/**
 * A 500-tunnel config in the agent as `agent` runs it: from start until charon holds all 500,
 * then reloads through the API (they return once charon has the change) with one tunnel
 * changed and with all 500 changed, `runs` of each.
 */
export async function reload500(agent: AgentCommand, runs = 5) {
  const lab = await AgentLab.create("swp-bench-rl", { subnets: 1 });
  const client = new ApiClient({ socketPath: lab.socket("a") }, { timeoutMs: 120_000 });
  try {
    await lab.writeRawConfig(
      "a",
      fiveHundred(lab, () => 10),
    );
    const started = performance.now();
    const child = startIn(lab, agent);
    await waitFor(
      "500 loaded",
      async () => {
        const s = await lab.status("a");
        return s?.charon.state === "running" && s.config.loadedAt !== null;
      },
      120_000,
      10,
    );
    const startMs = performance.now() - started;
    const timed = async (text: string) => {
      await lab.writeRawConfig("a", text);
      const t0 = performance.now();
      const r = await client.reload();
      if (!r.ok) throw new Error(`reload refused: ${JSON.stringify(r)}`);
      return performance.now() - t0;
    };
    const one: number[] = [];
    const all: number[] = [];
    for (let run = 0; run < runs; run++) {
      one.push(await timed(fiveHundred(lab, (i) => (i === 250 && run % 2 === 0 ? 30 : 10))));
    }
    for (let run = 0; run < runs; run++) {
      all.push(await timed(fiveHundred(lab, () => (run % 2 === 0 ? 20 : 10))));
    }
    await stop(lab, child);
    return {
      start_to_500_loaded_ms: round(startMs),
      reload_500_one_changed_ms: round(median(one)),
      reload_500_one_changed_samples_ms: one.map((x) => round(x)),
      reload_500_all_changed_ms: round(median(all)),
      reload_500_all_changed_samples_ms: all.map((x) => round(x)),
    };
  } finally {
    await lab.cleanup();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { runs: { type: "string", default: "5" }, idle: { type: "string", default: "60" } },
  });
  const runs = Number(values.runs);
  const seconds = Number(values.idle);
  const dir = await mkdtemp("/tmp/swp-bench-installed-");
  const results: Record<string, unknown> = {
    machine: { cpus: (await import("node:os")).cpus().length, node: process.version },
    at: new Date().toISOString(),
    runs,
    idle_seconds: seconds,
  };
  try {
    const installed = await stageInstalled(dir);
    const agents = [installed, bundleWith(dir, "previous flags", PREVIOUS_FLAGS)];
    for (const agent of agents) {
      const rss = await idleRss(agent, { runs, seconds });
      const cpu1s = await idleRss(agent, { runs: 3, seconds: 30, probeIntervalMs: 1000 });
      results[agent.label] = {
        command: [agent.cmd, ...agent.args].join(" "),
        idle_rss_50_tunnels_mb: rss.mb,
        idle_rss_50_tunnels_samples_mb: rss.samples,
        idle_cpu_percent_50_tunnels_100ms: rss.cpuPercent,
        idle_cpu_percent_50_tunnels_1000ms: cpu1s.cpuPercent,
        idle_rss_50_tunnels_1000ms_30s_mb: cpu1s.mb,
        ...(await reload500(agent, runs)),
      };
      process.stderr.write(`${agent.label}: ${JSON.stringify(results[agent.label])}\n`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  await mkdir(resolve(import.meta.dirname, "results"), { recursive: true });
  await writeFile(OUT, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}
