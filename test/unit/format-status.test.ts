import { stripVTControlCharacters } from "node:util";
import t from "tap";
import { formatStatus } from "../../agent/src/api/format-status.ts";
import { agentStatus as status, tunnelStatus as tunnel } from "../fixtures/agent-status.ts";

const NOW = new Date("2026-03-01T12:00:00Z");

t.test("header and aligned table", async (t) => {
  const out = formatStatus(
    status([
      tunnel("to-dc1"),
      tunnel("to-datacenter-2", {
        state: "down",
        remoteAddress: "2001:db8::7",
        reason: "no IKE SA",
        ike: null,
        child: null,
        probe: { state: "down", rttMs: null, loss: 1, sent: 10, received: 0 },
        since: "2026-02-27T09:30:00Z",
      }),
      tunnel("dc3", {
        state: "connecting",
        probe: { state: "disabled", rttMs: null, loss: 0, sent: 0, received: 0 },
        since: "2026-03-01T11:59:58Z",
        reason: "IKE in progress",
        child: null,
        ike: { uniqueId: "9", state: "CONNECTING", initiator: true },
      }),
    ]),
    { now: NOW },
  );
  t.equal(
    out,
    [
      "appliance vpn-a, charon 5.9.14 running (pid 4242, restarts 1), config generation 3, datapath kernel",
      "NAME              STATE        REMOTE         IKE           CHILD       CARRIER   RTT    LOSS   SINCE   REASON",
      "to-dc1            up           198.51.100.7   ESTABLISHED   INSTALLED   -         12ms   0%     3m      child installed, probe up",
      "to-datacenter-2   down         2001:db8::7    -             -           -         -      100%   2d2h    no IKE SA",
      "dc3               connecting   198.51.100.7   CONNECTING    -           -         -      -      2s      IKE in progress",
    ].join("\n"),
  );
});

t.test("CARRIER: the group's carrier, and the one the agent moves the traffic to", async (t) => {
  const group = (carrier: string | null, wanted: string | null) => ({
    group: { members: ["b1", "b2"], carrier, wanted },
  });
  const rows = (...tunnels: ReturnType<typeof tunnel>[]) =>
    formatStatus(status(tunnels), { now: NOW })
      .split("\n")
      .slice(2)
      .map((line) => line.split(/ {3,}/)[5]);
  t.same(rows(tunnel("b1", group("b1", "b1")), tunnel("b2", group("b1", "b1"))), ["b1", "b1"]);
  t.same(rows(tunnel("b1", group("b2", "b1"))), ["b2 -> b1"], "moving to the wanted one");
  t.same(rows(tunnel("b1", group(null, "b1"))), ["- -> b1"], "none installed yet");
  t.same(rows(tunnel("b1", group("b2", null))), ["b2"], "the agent leaves the group alone");
  t.same(rows(tunnel("c1")), ["-"], "a tunnel alone");
});

t.test("every row starts its columns at the header's offsets", async (t) => {
  const out = formatStatus(
    status([
      tunnel("a", { probe: { state: "up", rttMs: 1.25, loss: 0.5, sent: 2, received: 1 } }),
      tunnel("much-longer-name"),
    ]),
    { now: NOW },
  );
  const [, header = "", ...rows] = out.split("\n");
  const offsets = (line: string) => [...line.matchAll(/(?<=^| {3})\S/g)].map((m) => m.index);
  t.equal(rows.length, 2);
  for (const row of rows) t.same(offsets(row).slice(0, 8), offsets(header).slice(0, 8), row);
  t.match(rows[0], /1\.3ms +50%/);
});

t.test("empty tunnel list, stopped charon and a config error", async (t) => {
  const out = formatStatus(
    status([], {
      charon: {
        mode: "external",
        state: "stopped",
        pid: null,
        restarts: 4,
        version: null,
        lastExit: null,
      },
      config: { path: "/x", generation: 0, loadedAt: null, lastError: "tunnels.0.psk: missing" },
    }),
    { now: NOW },
  );
  t.equal(
    out,
    [
      "appliance vpn-a, charon stopped (pid -, restarts 4), config generation 0, datapath kernel",
      "last config error: tunnels.0.psk: missing",
      "No tunnels configured.",
    ].join("\n"),
  );
});

t.test("colours only when asked, and they do not break alignment", async (t) => {
  const s = status([tunnel("to-dc1"), tunnel("b", { state: "down" })]);
  const plain = formatStatus(s, { now: NOW });
  t.notOk(plain.includes("\x1b"), "no escape codes");
  const coloured = formatStatus(s, { now: NOW, color: true });
  t.match(coloured, "\x1b[32mup");
  t.match(coloured, "\x1b[31mdown");
  t.equal(stripVTControlCharacters(coloured), plain);
});
