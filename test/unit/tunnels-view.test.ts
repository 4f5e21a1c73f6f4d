import { stripVTControlCharacters } from "node:util";
import t from "tap";
import type { AgentStatus, ReloadResult, TunnelStatus } from "../../common/agent-api/status.ts";
import type { AgentAnswer } from "../../control-plane/src/tunnels/ask-agents.ts";
import { formatTunnels } from "../../control-plane/src/tunnels/format.ts";
import {
  formatReload,
  reloadTrouble,
  reloadView,
} from "../../control-plane/src/tunnels/reload-view.ts";
import { tunnelsTrouble, tunnelsView } from "../../control-plane/src/tunnels/view.ts";
import { agentStatus, tunnelStatus as tunnel } from "../fixtures/agent-status.ts";

/**
 * `swanpair tunnels` and `swanpair agents reload` from the agents' answers, pure: which tunnel
 * carries, unreachable agents as rows, the JSON shape, the table, the reasons to exit 1.
 */

const NOW = new Date("2026-03-01T12:00:00Z");

const answered = (appliance: string, tunnels: TunnelStatus[]): AgentAnswer<AgentStatus> => ({
  appliance,
  ok: true,
  value: agentStatus(tunnels, { appliance }),
});
const NO_SOCKET = "agent API at /run/b2.sock: no socket there";
const unreachable: AgentAnswer<never> = {
  appliance: "b2",
  ok: false,
  code: "SWP_ERR_API_UNREACHABLE",
  error: NO_SOCKET,
};
const noSa = { ike: null, child: null, reason: "no ike sa" } as const;
const probeDown = { state: "down", rttMs: null, loss: 1, sent: 10, received: 0 } as const;

t.test("CARRIES: as the agents report their carrier groups", async (t) => {
  const group = (carrier: string | null) => ({
    group: { members: ["b1", "b2"], carrier, wanted: "b1" },
  });
  const view = tunnelsView([
    // a1: both tunnels towards pair pb installed; its agent says b1's carries.
    answered("a1", [tunnel("b1", group("b1")), tunnel("b2", group("b1"))]),
    // a2: the group's carrier is b2; b1 has no SA.
    answered("a2", [tunnel("b1", { ...group("b2"), ...noSa }), tunnel("b2", group("b2"))]),
    // b1: a tunnel alone carries when installed; a kernel group whose pick is not visible.
    answered("b1", [
      tunnel("a1"),
      tunnel("dc8", { group: { members: ["dc8", "dc9"], carrier: null, wanted: null } }),
    ]),
  ]);
  const carries = Object.fromEntries(
    view.appliances.map((a) => [a.name, a.tunnels.map((x) => [x.name, x.carries])]),
  );
  t.same(carries, {
    a1: [
      ["b1", "yes"],
      ["b2", "no"],
    ],
    a2: [
      ["b1", "no"],
      ["b2", "yes"],
    ],
    b1: [
      ["a1", "yes"],
      ["dc8", null],
    ],
  });

  const [a1] = tunnelsView([
    answered("a1", [
      // Installed while its probe fails: it carries, into a black hole; STATE says down.
      tunnel("b1", { state: "down", reason: "child installed, probe down", probe: probeDown }),
      // A CHILD_SA under an IKE_SA that is being deleted carries nothing.
      tunnel("b2", { ike: { uniqueId: "4", state: "DELETING", initiator: false } }),
      tunnel("dc9", { child: { uniqueId: "7", state: "INSTALLING" } }),
      // An agent older than carrier groups does not say.
      tunnel("dc7", { group: undefined as unknown as null }),
    ]),
  ]).appliances;
  t.same(
    a1?.tunnels.map((x) => [x.name, x.state, x.carries]),
    [
      ["b1", "down", "yes"],
      ["b2", "up", "no"],
      ["dc9", "up", "no"],
      ["dc7", "up", null],
    ],
  );
});

t.test("agents that give no status are entries saying why; the JSON shape", async (t) => {
  const view = tunnelsView([
    answered("a1", [tunnel("b1")]),
    {
      appliance: "a2",
      ok: false,
      code: "SWP_ERR_API_REQUEST",
      error: "agent answered HTTP 500: boom",
    },
    answered("b1", []),
    unreachable,
  ]);
  const json = JSON.parse(JSON.stringify(view));
  t.same(Object.keys(json), ["appliances"]);
  t.same(
    json.appliances.map((a: Record<string, unknown>) => Object.keys(a)),
    [
      ["name", "reachable", "tunnels"],
      ["name", "reachable", "error", "tunnels"],
      ["name", "reachable", "tunnels"],
      ["name", "reachable", "error", "tunnels"],
    ],
    "error only where there is one",
  );
  t.same(json.appliances[3], { name: "b2", reachable: false, error: NO_SOCKET, tunnels: [] });
  t.same(json.appliances[1].reachable, true, "an agent that answered an error was reached");
  t.same(json.appliances[0].tunnels[0], { ...tunnel("b1"), carries: "yes" }, "the agent's fields");
  t.same(tunnelsTrouble(view), ["unreachable agent(s): b2", "agent(s) answering an error: a2"]);
});

t.test("trouble: every tunnel not up, nothing when all are", async (t) => {
  const down = tunnelsView([
    answered("a1", [tunnel("b1"), tunnel("b2", { state: "connecting" })]),
    answered("b1", [tunnel("a1", { state: "down", ...noSa })]),
  ]);
  t.same(tunnelsTrouble(down), ["tunnel(s) not up: a1/b2 connecting, b1/a1 down"]);
  const up = tunnelsView([answered("a1", [tunnel("b1")]), answered("a2", [])]);
  t.same(tunnelsTrouble(up), [], "an appliance without tunnels is no trouble");
});

const mixed = tunnelsView([
  answered("a1", [
    tunnel("b1", { remoteAddress: "198.18.0.2", since: "2026-03-01T11:57:00Z" }),
    tunnel("b2", {
      state: "down",
      remoteAddress: "198.18.0.3",
      ...noSa,
      probe: probeDown,
      since: "2026-02-27T09:30:00Z",
    }),
  ]),
  answered("a2", []),
  unreachable,
]);

t.test(
  "the table: aligned columns, one row per tunnel, a note per appliance without",
  async (t) => {
    t.equal(
      formatTunnels(mixed, { now: NOW, color: false }),
      [
        "APPLIANCE   TUNNEL   FAR END      STATE   IKE           CHILD       CARRIES   RTT    LOSS   SINCE   REASON",
        "a1          b1       198.18.0.2   up      ESTABLISHED   INSTALLED   yes       12ms   0%     3m      child installed, probe up",
        "a1          b2       198.18.0.3   down    -             -           no        -      100%   2d2h    no ike sa",
        "a2          no tunnels configured",
        `b2          unreachable: ${NO_SOCKET}`,
      ].join("\n"),
    );
    const noProbe = tunnelsView([
      answered("a1", [
        tunnel("b1", { probe: { state: "disabled", rttMs: null, loss: 0, sent: 0, received: 0 } }),
      ]),
    ]);
    const row = formatTunnels(noProbe, { now: NOW, color: false }).split("\n")[1] ?? "";
    t.same(row.split(/ {2,}/).slice(6, 9), ["yes", "-", "-"], "no probe: no RTT, no loss");
  },
);

t.test("colour paints STATE and notes only, and moves no column", async (t) => {
  const plain = formatTunnels(mixed, { now: NOW, color: false });
  const coloured = formatTunnels(mixed, { now: NOW, color: true });
  t.equal(stripVTControlCharacters(coloured), plain);
  const lines = coloured.split("\n");
  const ESC = "\x1b";
  t.notOk(lines[0]?.includes(ESC), "not the header");
  t.ok(lines[1]?.includes(`198.18.0.2   ${ESC}[32mup${ESC}[0m      ESTABLISHED`), "up in green");
  t.ok(lines[2]?.includes(`${ESC}[31mdown${ESC}[0m`), "down in red");
  t.notOk(lines[3]?.includes(ESC), "no tunnels is no alarm");
  t.ok(lines[4]?.startsWith(`b2          ${ESC}[31munreachable: `), "unreachable in red");
});

const reloaded = (generation: number, r: Partial<ReloadResult> = {}): ReloadResult => ({
  ok: true,
  generation,
  loaded: [],
  unloaded: [],
  unchanged: ["b1", "b2"],
  ...r,
});

t.test("agents reload: one entry per appliance with its outcome", async (t) => {
  const view = reloadView([
    { appliance: "a1", ok: true, value: reloaded(4, { loaded: ["b3"], unchanged: ["b1"] }) },
    {
      appliance: "a2",
      ok: true,
      value: {
        ...reloaded(2, { ok: false, unchanged: [] }),
        error: "configuration invalid",
        issues: [
          { path: "tunnels[0].name", rule: "pattern", message: 'invalid name "b 1"' },
          { path: "tunnels[1].psk.file", rule: "psk-file", message: "/x does not exist" },
        ],
      },
    },
    {
      appliance: "b1",
      ok: false,
      code: "SWP_ERR_API_REQUEST",
      error: "an operator certificate is needed: ...",
    },
    unreachable,
  ]);
  t.same(
    view.appliances.map((a) => [a.name, a.outcome]),
    [
      ["a1", "reloaded"],
      ["a2", "rejected"],
      ["b1", "error"],
      ["b2", "unreachable"],
    ],
  );
  t.equal(view.appliances[1]?.result?.issues?.length, 2, "JSON keeps every issue");
  t.equal(
    formatReload(view, { color: false }),
    [
      "APPLIANCE   RESULT     GENERATION   LOADED   UNLOADED   UNCHANGED",
      "a1          reloaded   4            b3       -          1",
      'a2          rejected: configuration invalid: tunnels[0].name: invalid name "b 1" [pattern] (and 1 more issue); nothing changed',
      "b1          error: an operator certificate is needed: ...",
      `b2          unreachable: ${NO_SOCKET}`,
    ].join("\n"),
  );
  t.same(reloadTrouble(view), ["not reloaded: a2 (rejected), b1 (error), b2 (unreachable)"]);
  t.same(reloadTrouble(reloadView([{ appliance: "a1", ok: true, value: reloaded(5) }])), []);
});
