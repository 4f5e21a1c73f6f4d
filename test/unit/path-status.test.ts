import { stripVTControlCharacters } from "node:util";
import t from "tap";
import { formatStatus } from "../../agent/src/api/format-status.ts";
import { createMetrics } from "../../agent/src/metrics.ts";
import type { AgentStatus } from "../../common/agent-api/status.ts";
import { agentStatus, pathStatus, tunnelStatus } from "../fixtures/agent-status.ts";

/** Paths in `swanpair-agent status` and in the metrics. */

const NOW = new Date("2026-03-01T12:00:00Z");

const withPaths = (status: AgentStatus) =>
  agentStatus(status.tunnels, {
    paths: [
      pathStatus("ab"),
      pathStatus("a-to-datacenter", {
        target: "2001:db8:2::20",
        state: "down",
        rttMs: null,
        loss: 1,
        sent: 120,
        received: 0,
        since: "2026-03-01T11:59:30Z",
      }),
      pathStatus("cd", {
        state: "unknown",
        rttMs: null,
        sent: 0,
        received: 0,
        since: NOW.toISOString(),
      }),
    ],
  });

t.test("paths follow the tunnels as a table of their own", async (t) => {
  const out = formatStatus(withPaths(agentStatus([tunnelStatus("to-dc1")])), { now: NOW });
  t.equal(
    out,
    [
      "appliance vpn-a, charon 5.9.14 running (pid 4242, restarts 1), config generation 3, datapath kernel",
      "NAME     STATE   REMOTE         IKE           CHILD       CARRIER   RTT    LOSS   SINCE   REASON",
      "to-dc1   up      198.51.100.7   ESTABLISHED   INSTALLED   -         12ms   0%     3m      child installed, probe up",
      "",
      "PATH              STATE     TARGET           RTT     LOSS   SENT   RECEIVED   SINCE",
      "ab                up        10.2.0.20        3.2ms   0%     10     10         2m",
      "a-to-datacenter   down      2001:db8:2::20   -       100%   120    0          30s",
      "cd                unknown   10.2.0.20        -       0%     0      0          0s",
    ].join("\n"),
  );
});

t.test("paths are listed without tunnels, and nothing is added without paths", async (t) => {
  const out = formatStatus(withPaths(agentStatus([])), { now: NOW }).split("\n");
  t.same(out.slice(1, 4), ["No tunnels configured.", "", out[3]]);
  t.match(out[3], /^PATH\s+STATE/);
  t.equal(out.length, 7);

  const plain = formatStatus(agentStatus([tunnelStatus("to-dc1")]), { now: NOW });
  t.notMatch(plain, /PATH/, "no paths section when none are configured");
  // A status from an agent that predates paths has no paths field at all.
  const { paths: _, ...old } = agentStatus([]);
  t.doesNotThrow(() => formatStatus(old as AgentStatus, { now: NOW }));
});

t.test("path states are coloured like tunnel states", async (t) => {
  const s = withPaths(agentStatus([]));
  const coloured = formatStatus(s, { now: NOW, color: true });
  t.match(coloured, "\x1b[32mup");
  t.match(coloured, "\x1b[31mdown");
  t.match(coloured, "\x1b[33munknown");
  t.equal(stripVTControlCharacters(coloured), formatStatus(s, { now: NOW }));
});

/** The swanpair_path_* samples, one a line. */
async function pathSamples(m: ReturnType<typeof createMetrics>) {
  const text = await m.registry.metrics();
  return text.split("\n").filter((l) => l.startsWith("swanpair_path_"));
}

t.test("metrics: up, one-hot state, RTT and loss per path", async (t) => {
  const m = createMetrics();
  m.update(withPaths(agentStatus([])));
  const s = await pathSamples(m);
  for (const line of [
    'swanpair_path_up{path="ab"} 1',
    'swanpair_path_up{path="a-to-datacenter"} 0',
    'swanpair_path_up{path="cd"} 0',
    'swanpair_path_state{path="ab",state="up"} 1',
    'swanpair_path_state{path="ab",state="down"} 0',
    'swanpair_path_state{path="a-to-datacenter",state="down"} 1',
    'swanpair_path_state{path="cd",state="unknown"} 1',
    'swanpair_path_state{path="cd",state="up"} 0',
    'swanpair_path_rtt_seconds{path="ab"} 0.0032',
    'swanpair_path_loss_ratio{path="ab"} 0',
    'swanpair_path_loss_ratio{path="a-to-datacenter"} 1',
  ]) {
    t.ok(s.includes(line), line);
  }
  t.notOk(
    s.some((l) => l.startsWith('swanpair_path_rtt_seconds{path="a-to-datacenter"}')),
    "no RTT when nothing came back",
  );

  m.update(agentStatus([], { paths: [pathStatus("cd")] }));
  const after = await pathSamples(m);
  t.notOk(
    after.some((l) => /path="(ab|a-to-datacenter)"/.test(l)),
    "removed paths leave no series",
  );
  t.ok(after.includes('swanpair_path_up{path="cd"} 1'));
});
