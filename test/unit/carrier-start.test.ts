import t from "tap";
import {
  agentStartsMain,
  changedMainChildren,
  childToStart,
  FAR_START_GRACE_S,
  mayStartMain,
} from "../../agent/src/carrier/start.ts";
import type { ResolvedTunnel } from "../../agent/src/config/types.ts";
import type { SaObservation } from "../../agent/src/health/sa-state.ts";

/** Decision 0017, "Which end starts": the end that did not make the IKE_SA starts the child. */

const ike = (state: string, initiator: boolean, establishedS?: number): SaObservation => ({
  ike: { uniqueId: "3", state, initiator, establishedS },
  child: null,
});
const none: SaObservation = { ike: null, child: null };

t.test("mayStartMain: who starts a missing main CHILD_SA", async (t) => {
  // [case, observation, may this end start it]
  const cases: Array<[string, SaObservation, boolean]> = [
    ["no IKE_SA: charon makes it, with the probe's CHILD_SA", none, false],
    ["the far end made the IKE_SA: start it at once", ike("ESTABLISHED", false, 0), true],
    ["this end made it just now: the far agent starts it", ike("ESTABLISHED", true, 0), false],
    ["one second before the grace ends", ike("ESTABLISHED", true, FAR_START_GRACE_S - 1), false],
    ["the far agent did not within the grace", ike("ESTABLISHED", true, FAR_START_GRACE_S), true],
    ["no established time reported yet", ike("ESTABLISHED", true), false],
    ["an IKE_SA being rekeyed is alive", ike("REKEYING", false, 40), true],
    ["being negotiated: wait for it", ike("CONNECTING", true), false],
    ["being deleted: wait for it", ike("DELETING", false, 90), false],
  ];
  for (const [name, sa, want] of cases) t.equal(mayStartMain(sa), want, name);
});

const tunnel = (startAction: ResolvedTunnel["startAction"], probe: boolean) =>
  ({
    name: "b1",
    startAction,
    probe: probe ? { source: "10.1.0.11", target: "10.2.0.11" } : undefined,
  }) as ResolvedTunnel;

t.test("agentStartsMain: libipsec tunnels that start and have a probe", async (t) => {
  t.ok(agentStartsMain(tunnel("start", true), "libipsec"), "libipsec, start, probe");
  t.notOk(agentStartsMain(tunnel("start", true), "kernel"), "kernel: priorities decide");
  t.notOk(agentStartsMain(tunnel("start", false), "libipsec"), "no probe: maybe no far agent");
  t.notOk(agentStartsMain(tunnel("trap", true), "libipsec"), "a trap tunnel starts on traffic");
  t.notOk(agentStartsMain(tunnel("none", true), "libipsec"), "a passive tunnel is never started");
});

t.test("childToStart: which CHILD_SA a tunnel without its main one gets", async (t) => {
  const installed: SaObservation = {
    ike: { uniqueId: "3", state: "ESTABLISHED", initiator: true, establishedS: 9 },
    child: { uniqueId: "4", state: "INSTALLED" },
  };
  // [case, tunnel, datapath, observation, the child to initiate ("-" for none)]
  const cases: Array<[string, ResolvedTunnel, "libipsec" | "kernel", SaObservation, string]> = [
    [
      "agent-started, no IKE_SA: the probe's, as charon would",
      tunnel("start", true),
      "libipsec",
      none,
      "b1-probe",
    ],
    [
      "agent-started, the far end made the IKE_SA",
      tunnel("start", true),
      "libipsec",
      ike("ESTABLISHED", false, 0),
      "b1",
    ],
    [
      "agent-started, this end made it just now",
      tunnel("start", true),
      "libipsec",
      ike("ESTABLISHED", true, 0),
      "-",
    ],
    [
      "agent-started, the grace is over",
      tunnel("start", true),
      "libipsec",
      ike("ESTABLISHED", true, 5),
      "b1",
    ],
    [
      "agent-started, IKE_SA being negotiated",
      tunnel("start", true),
      "libipsec",
      ike("CONNECTING", true),
      "-",
    ],
    ["the main CHILD_SA is there", tunnel("start", true), "libipsec", installed, "-"],
    ["charon-started, no IKE_SA: the main one", tunnel("start", true), "kernel", none, "b1"],
    [
      "charon-started, IKE_SA established",
      tunnel("start", false),
      "libipsec",
      ike("ESTABLISHED", true, 0),
      "b1",
    ],
    [
      "charon-started, IKE_SA being negotiated",
      tunnel("start", true),
      "kernel",
      ike("CONNECTING", true),
      "-",
    ],
    ["a trap tunnel is never initiated here", tunnel("trap", true), "libipsec", none, "-"],
  ];
  for (const [name, tun, datapath, sa, want] of cases)
    t.equal(childToStart(tun, sa, datapath) ?? "-", want, name);
});

t.test("changedMainChildren: a reload that changes a main CHILD_SA's config", async (t) => {
  const conns = (remote: string, proposals = "aes256gcm16-x25519") => ({
    b1: {
      children: {
        b1: { local_ts: ["10.1.0.0/16"], remote_ts: [remote], esp_proposals: [proposals] },
        "b1-probe": { local_ts: ["10.1.0.11/32"], remote_ts: ["10.2.0.11/32"] },
      },
    },
  });
  const tunnels = [tunnel("start", true)];
  const before = conns("10.2.0.0/16");
  t.same(changedMainChildren(tunnels, "libipsec", before, before), [], "nothing changed");
  t.same(
    changedMainChildren(tunnels, "libipsec", before, conns("10.3.0.0/16")),
    ["b1"],
    "new subnets: made again",
  );
  t.same(
    changedMainChildren(tunnels, "libipsec", before, conns("10.2.0.0/16", "aes128gcm16-x25519")),
    ["b1"],
    "new proposals: made again",
  );
  const probeOnly = conns("10.2.0.0/16");
  (probeOnly.b1.children["b1-probe"] as { remote_ts: string[] }).remote_ts = ["10.2.0.12/32"];
  t.same(changedMainChildren(tunnels, "libipsec", before, probeOnly), [], "the probe's: charon's");
  t.same(changedMainChildren(tunnels, "libipsec", {}, before), [], "a new tunnel: nothing to redo");
  t.same(
    changedMainChildren([tunnel("start", false)], "libipsec", before, conns("10.3.0.0/16")),
    [],
    "charon-started: charon makes it again itself",
  );
});
