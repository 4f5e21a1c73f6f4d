/**
 * Agent benchmarks against a real charon (npm run bench; needs root). Writes
 * bench/results/agent.json. Numbers, not pass/fail: the tests check behaviour.
 *
 *  - render+load of 1, 50, 500 tunnels (validate, render, apply over VICI), vs swanctl --load-all
 *  - hitless reload of 500 tunnels with one changed, vs swanctl --load-all
 *  - agent RSS at idle with 50 tunnels (probes running), 60 s after start: as installed (the
 *    packaged wrapper, median of 5; bench/agent-memory.ts), the bundle with the flags it had
 *    before decision 0008's, and the TypeScript source; the installed agent's reloads of 500
 *    tunnels through its API, with both flag sets (what --lite-mode costs)
 *  - charon SIGKILL → traffic through the tunnel again, over several runs
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { Reconciler } from "../agent/src/apply/reconciler.ts";
import { loadConfigText } from "../agent/src/config/load.ts";
import { renderAll } from "../agent/src/render/index.ts";
import { createLogger } from "../common/logger.ts";
import { AGENT_BIN, AgentLab, waitFor } from "../test/helpers/agent-lab.ts";
import { readyLink } from "../test/helpers/charon.ts";
import { createNetns, deleteNetns, nsSpawn, stopChild } from "../test/helpers/netns.ts";
import { idleRss, installedAgentBench } from "./agent-memory.ts";
import { median } from "./median.ts";
import { peerTunnels } from "./peer-tunnels.ts";
import { writeBenchmarksDoc } from "./report.ts";

const OUT = resolve(import.meta.dirname, "results/agent.json");
const log = createLogger({ name: "bench", level: "warn" });
const ms = (start: number) => Math.round((performance.now() - start) * 100) / 100;

function configYaml(dir: string, count: number, changed = -1, distinctKeys = false) {
  return stringify({
    appliance: { name: "bench", localAddress: "198.18.1.1" },
    stateDir: dir,
    api: { socket: join(dir, "agent.sock") },
    tunnels: peerTunnels(count, {
      remoteAddress: "198.18.1.2",
      ids: ["bench", "peer"],
      psk: (i) => join(dir, distinctKeys ? `psk-${i}` : "psk"),
      dpdDelayS: (i) => (i === changed ? 30 : 10),
    }),
  });
}

async function loadBench() {
  const ns = "swp-bench-load";
  const dir = await mkdtemp("/tmp/swp-bench-");
  createNetns(ns);
  execFileSync("ip", ["-n", ns, "addr", "add", "198.18.1.1/24", "dev", "lo"]);
  await writeFile(join(dir, "psk"), "bench-psk-0123456789abcdef\n", { mode: 0o600 });
  for (let i = 0; i < 500; i++) {
    await writeFile(join(dir, `psk-${i}`), `bench-psk-${i}-0123456789abcdef\n`, { mode: 0o600 });
  }
  const first = await loadConfigText(configYaml(dir, 1));
  if (!first.ok) throw new Error(JSON.stringify(first.issues));
  const rendered = renderAll(first.config, { redactSecrets: false });
  await writeFile(join(dir, "strongswan.conf"), rendered.strongswanConf);
  const charon = nsSpawn(ns, "/usr/sbin/charon-systemd", [], {
    env: { PATH: process.env.PATH, STRONGSWAN_CONF: join(dir, "strongswan.conf") },
    stdio: "ignore",
  });
  const link = await readyLink(first.config.charon.vici, log);
  const swanctl = (file: string) => {
    const start = performance.now();
    execFileSync(
      "ip",
      [
        "netns",
        "exec",
        ns,
        "swanctl",
        "--load-all",
        "--file",
        file,
        "--uri",
        `unix://${first.config.charon.vici}`,
      ],
      { stdio: "ignore" },
    );
    return ms(start);
  };
  const results: Record<string, unknown> = {};
  try {
    // Total: YAML → validated config → rendered → loaded into an empty charon. Apply: the
    // VICI part alone. "distinct_keys": every tunnel has its own PSK file (one load-shared
    // each); otherwise all share one key, as tunnels to one peer pair often do.
    const variants = [
      ["1", 1, false],
      ["50", 50, false],
      ["500", 500, false],
      ["500_distinct_keys", 500, true],
    ] as const;
    for (const [label, count, distinct] of variants) {
      const text = configYaml(dir, count, -1, distinct);
      const total: number[] = [];
      const apply: number[] = [];
      for (let run = 0; run < 3; run++) {
        const reconciler = new Reconciler(log);
        await reconciler.apply(link.port(), { connections: {}, secrets: [] }); // empty charon
        const start = performance.now();
        const loaded = await loadConfigText(text);
        if (!loaded.ok)
          throw new Error(`invalid bench config: ${JSON.stringify(loaded.issues[0])}`);
        const rendered = renderAll(loaded.config, { redactSecrets: false });
        const applyStart = performance.now();
        await reconciler.apply(link.port(), rendered);
        apply.push(ms(applyStart));
        total.push(ms(start));
      }
      results[`load_${label}_ms`] = median(total);
      results[`load_${label}_apply_ms`] = median(apply);
      results[`load_${label}_samples_ms`] = total;
    }
    // Reload of 500 with one changed: the reconciler already holds the 500.
    const reconciler = new Reconciler(log);
    const all = await loadConfigText(configYaml(dir, 500));
    if (!all.ok) throw new Error(`invalid bench config: ${JSON.stringify(all.issues[0])}`);
    await reconciler.apply(link.port(), renderAll(all.config, { redactSecrets: false }));
    const samples: number[] = [];
    for (let run = 0; run < 5; run++) {
      const text = configYaml(dir, 500, run % 2 === 0 ? 250 : -1);
      const start = performance.now();
      const loaded = await loadConfigText(text);
      if (!loaded.ok) throw new Error(`invalid bench config: ${JSON.stringify(loaded.issues[0])}`);
      const { plan } = await reconciler.apply(
        link.port(),
        renderAll(loaded.config, { redactSecrets: false }),
        { precheck: false },
      );
      samples.push(ms(start));
      if (plan.loadConns.length !== 1)
        throw new Error(`expected one changed, sent ${plan.loadConns.length}`);
    }
    results.reload_500_one_changed_ms = median(samples);
    results.reload_500_one_changed_samples_ms = samples;
    // The same step without validation and rendering: only what goes over VICI.
    const apply: number[] = [];
    for (let run = 0; run < 5; run++) {
      const loaded = await loadConfigText(configYaml(dir, 500, run % 2 === 0 ? -1 : 250));
      if (!loaded.ok) throw new Error(`invalid bench config: ${JSON.stringify(loaded.issues[0])}`);
      const r = renderAll(loaded.config, { redactSecrets: false });
      const start = performance.now();
      await reconciler.apply(link.port(), r, { precheck: false });
      apply.push(ms(start));
    }
    results.reload_500_one_changed_apply_only_ms = median(apply);

    // swanctl --load-all for comparison, same connections.
    const file500 = join(dir, "swanctl-500.conf");
    await writeFile(file500, renderAll(all.config, { redactSecrets: false }).swanctlConf, {
      mode: 0o600,
    });
    results.swanctl_load_all_500_ms = swanctl(file500);
    const changed = await loadConfigText(configYaml(dir, 500, 250));
    if (!changed.ok) throw new Error(`invalid bench config: ${JSON.stringify(changed.issues[0])}`);
    await writeFile(file500, renderAll(changed.config, { redactSecrets: false }).swanctlConf, {
      mode: 0o600,
    });
    results.swanctl_reload_500_one_changed_ms = swanctl(file500);
  } finally {
    link.close();
    await stopChild(charon);
    deleteNetns(ns);
    await rm(dir, { recursive: true, force: true });
  }
  return results;
}

/** The agent as installed (RSS idle, reloads), and the RSS of the TypeScript source. */
async function installedBench() {
  const source = await idleRss(
    { label: "TypeScript source", cmd: AGENT_BIN, args: [] },
    { runs: 1, seconds: 60 },
  );
  return { ...(await installedAgentBench()), idle_rss_50_tunnels_source_mb: source.mb };
}

/**
 * Each sample is the first crash of a fresh agent: repeated crashes within 30 s are delayed
 * by the supervisor's backoff on purpose, which would be measured instead.
 */
async function restartBench(runs = 5) {
  const lab = await AgentLab.create("swp-bench-rst");
  try {
    const one = [{ name: "one", subnet: 0 }];
    await lab.writeConfig("a", one);
    await lab.writeConfig("b", one);
    lab.startAgent("b");
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      lab.startAgent("a");
      await waitFor("tunnel up", async () => (await lab.tunnelState("a", "one")) === "up", 30_000);
      const pid = (await lab.status("a"))?.charon.pid as number;
      const start = performance.now();
      process.kill(pid, "SIGKILL");
      await waitFor("traffic again", () => lab.ping("a", 0, 0.1), 30_000, 0);
      samples.push(ms(start));
      await lab.stopAgent("a");
    }
    return {
      charon_kill_to_traffic_ms: median(samples),
      charon_kill_to_traffic_samples_ms: samples,
    };
  } finally {
    await lab.cleanup();
  }
}

const results = {
  machine: { cpus: (await import("node:os")).cpus().length, node: process.version },
  at: new Date().toISOString(),
  ...(await loadBench()),
  ...(await installedBench()),
  ...(await restartBench()),
  targets: {
    load_500_ms: 250,
    reload_500_one_changed_ms: 10,
    idle_rss_50_tunnels_mb: 60,
    charon_kill_to_traffic_ms: 500,
  },
};
await mkdir(resolve(import.meta.dirname, "results"), { recursive: true });
await writeFile(OUT, `${JSON.stringify(results, null, 2)}\n`);
await writeBenchmarksDoc();
process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
