import t from "tap";
import { createMetrics, reloadOutcome } from "../../agent/src/metrics.ts";
import type { AgentStatus, TunnelStatus } from "../../common/agent-api/status.ts";
import { agentStatus, tunnelStatus } from "../fixtures/agent-status.ts";

const tunnel = (name: string, overrides: Partial<TunnelStatus> = {}): TunnelStatus =>
  tunnelStatus(name, {
    probe: { state: "up", rttMs: 12.5, loss: 0.25, sent: 4, received: 3 },
    since: "2026-01-01T00:00:00Z",
    ...overrides,
  });

const status = (tunnels: TunnelStatus[], restarts = 0): AgentStatus =>
  agentStatus(tunnels, {
    charon: { mode: "child", state: "running", pid: 4242, restarts, version: null, lastExit: null },
    config: { path: "/etc/swanpair/agent.yaml", generation: 7, loadedAt: null, lastError: null },
  });

/** The metrics text without the process_* defaults, one sample per line. */
async function samples(m: ReturnType<typeof createMetrics>): Promise<string[]> {
  const text = await m.registry.metrics();
  return text
    .split("\n")
    .filter((l) => l.startsWith("swanpair_") && !l.startsWith("swanpair_process"));
}

t.test("gauges reflect the status", async (t) => {
  const m = createMetrics();
  m.update(
    status([
      tunnel("to-dc1"),
      tunnel("to-dc2", {
        state: "connecting",
        probe: { state: "down", rttMs: null, loss: 1, sent: 4, received: 0 },
      }),
    ]),
  );
  const s = await samples(m);
  for (const line of [
    'swanpair_tunnel_up{tunnel="to-dc1"} 1',
    'swanpair_tunnel_up{tunnel="to-dc2"} 0',
    'swanpair_tunnel_state{tunnel="to-dc1",state="up"} 1',
    'swanpair_tunnel_state{tunnel="to-dc1",state="down"} 0',
    'swanpair_tunnel_state{tunnel="to-dc1",state="connecting"} 0',
    'swanpair_tunnel_state{tunnel="to-dc2",state="connecting"} 1',
    'swanpair_probe_rtt_seconds{tunnel="to-dc1"} 0.0125',
    'swanpair_probe_loss_ratio{tunnel="to-dc1"} 0.25',
    'swanpair_probe_loss_ratio{tunnel="to-dc2"} 1',
    "swanpair_charon_up 1",
    "swanpair_config_generation 7",
    'swanpair_reloads_total{result="ok"} 0',
    'swanpair_reloads_total{result="rejected"} 0',
    'swanpair_reloads_total{result="failed"} 0',
  ]) {
    t.ok(s.includes(line), line);
  }
  t.notOk(
    s.some((l) => l.startsWith('swanpair_probe_rtt_seconds{tunnel="to-dc2"}')),
    "no RTT when nothing came back",
  );
});

t.test(
  "the agent's few process metrics, with the swanpair_ prefix, read when scraped",
  async (t) => {
    const registry = createMetrics().registry;
    const value = async (name: string) =>
      Number(new RegExp(`^swanpair_${name} (\\S+)$`, "m").exec(await registry.metrics())?.[1]);
    const rss = await value("process_resident_memory_bytes");
    t.ok(rss > 10e6 && rss < 1e9, `resident memory ${rss}`);
    t.ok((await value("nodejs_heap_size_used_bytes")) > 1e6, "heap used");
    const cpu = await value("process_cpu_seconds_total");
    t.ok(cpu > 0, `cpu ${cpu} s`);
    const spin = Date.now() + 50;
    while (Date.now() < spin);
    t.ok((await value("process_cpu_seconds_total")) >= cpu + 0.04, "the CPU counter moves");
    const started = await value("process_start_time_seconds");
    t.ok(Math.abs(started - (Date.now() / 1000 - process.uptime())) <= 1, "start time");
    const text = await registry.metrics();
    t.notMatch(text, /^process_/m, "nothing without the prefix");
    t.notMatch(
      text,
      /eventloop_lag|gc_duration|heap_space/,
      "none of prom-client's other defaults",
    );
  },
);

t.test("vanished tunnels and disabled probes leave no series", async (t) => {
  const m = createMetrics();
  m.update(status([tunnel("to-dc1"), tunnel("to-dc2")]));
  m.update(
    status([
      tunnel("to-dc2", {
        probe: { state: "disabled", rttMs: null, loss: 0, sent: 0, received: 0 },
      }),
    ]),
  );
  const s = await samples(m);
  t.notOk(
    s.some((l) => l.includes('"to-dc1"')),
    "to-dc1 is gone from every family",
  );
  t.ok(s.includes('swanpair_tunnel_up{tunnel="to-dc2"} 1'));
  t.notOk(
    s.some((l) => l.startsWith("swanpair_probe_")),
    "no probe series while probing is disabled",
  );
});

t.test("charon restarts follow the supervisor's count", async (t) => {
  const m = createMetrics();
  m.update(status([], 2));
  m.update(status([], 2));
  m.update(status([], 3));
  t.ok((await samples(m)).includes("swanpair_charon_restarts_total 3"));
});

t.test("reload outcomes", async (t) => {
  const base = { generation: 1, loaded: [], unloaded: [], unchanged: [] };
  t.equal(reloadOutcome({ ...base, ok: true }), "ok");
  t.equal(
    reloadOutcome({ ...base, ok: false, issues: [{ path: "a", rule: "b", message: "c" }] }),
    "rejected",
  );
  t.equal(reloadOutcome({ ...base, ok: false, issues: [], error: "vici" }), "failed");
  const m = createMetrics();
  m.reloads.inc({ result: "rejected" });
  t.ok((await samples(m)).includes('swanpair_reloads_total{result="rejected"} 1'));
});

t.test("which tunnel carries, and the carrier actions started", async (t) => {
  const m = createMetrics();
  const group = { members: ["b1", "b2", "b3"], carrier: "b1", wanted: "b1" };
  m.update(
    status([
      tunnel("b1", { group }),
      tunnel("b2", { group }),
      tunnel("b3", { group: { ...group, carrier: null }, child: null }),
      tunnel("c1"),
    ]),
  );
  m.carrierActions.inc({ action: "rekey" });
  const s = await samples(m);
  for (const line of [
    'swanpair_tunnel_carries{tunnel="b1"} 1',
    'swanpair_tunnel_carries{tunnel="b2"} 0',
    'swanpair_tunnel_carries{tunnel="b3"} 0',
    'swanpair_tunnel_carries{tunnel="c1"} 1',
    'swanpair_carrier_actions_total{action="rekey"} 1',
    'swanpair_carrier_actions_total{action="initiate"} 0',
  ]) {
    t.ok(s.includes(line), line);
  }
  m.update(status([tunnel("d1", { group: { ...group, members: ["d1", "d2"], carrier: null } })]));
  t.notOk(
    (await samples(m)).some((l) => l.startsWith("swanpair_tunnel_carries")),
    "absent when the agent cannot tell",
  );
});

t.test("registries are independent", async (t) => {
  const a = createMetrics();
  const b = createMetrics();
  a.update(status([tunnel("only-a")]));
  t.notMatch(await b.registry.metrics(), /only-a/);
});
