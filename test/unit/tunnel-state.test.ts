import fc from "fast-check";
import t from "tap";
import { deriveTunnelState } from "../../agent/src/health/tunnel-state.ts";
import type { ProbeStatus } from "../../common/agent-api/status.ts";

/**
 * How a tunnel's state follows from what charon reports (VICI IKE_SA and CHILD_SA state,
 * "-" for none), the probe, and whether the agent is initiating. Columns are separated by
 * two or more spaces.
 */
const TABLE = `
ike          child       probe     initiating  state       reason
ESTABLISHED  INSTALLED   up        no          up          child installed, probe up
ESTABLISHED  INSTALLED   disabled  no          up          child installed, no probe
ESTABLISHED  INSTALLED   unknown   no          connecting  child installed, probe not decided yet
ESTABLISHED  INSTALLED   down      no          down        child installed, probe down
ESTABLISHED  INSTALLED   down      yes         down        child installed, probe down
ESTABLISHED  REKEYING    up        no          up          child rekeying, probe up
ESTABLISHED  REKEYING    unknown   no          connecting  child rekeying, probe not decided yet
ESTABLISHED  REKEYED     up        no          up          child rekeyed, probe up
ESTABLISHED  REKEYED     down      no          down        child rekeyed, probe down
ESTABLISHED  UPDATING    disabled  no          up          child updating, no probe
REKEYING     INSTALLED   up        no          up          child installed, probe up
REKEYING     INSTALLED   disabled  no          up          child installed, no probe
ESTABLISHED  -           disabled  no          down        ike established, no child sa
ESTABLISHED  -           unknown   yes         connecting  initiating, ike established, no child sa
ESTABLISHED  CREATED     unknown   no          connecting  ike established, child created
ESTABLISHED  INSTALLING  unknown   no          connecting  ike established, child installing
ESTABLISHED  RETRYING    down      no          connecting  ike established, child retrying
ESTABLISHED  DELETING    up        no          down        ike established, child deleting
ESTABLISHED  DELETED     up        no          down        ike established, child deleted
ESTABLISHED  DESTROYING  up        no          down        ike established, child destroying
ESTABLISHED  ROUTED      disabled  no          down        ike established, child routed
CREATED      -           unknown   no          connecting  ike created, no child sa
CONNECTING   -           unknown   no          connecting  ike connecting, no child sa
CONNECTING   -           down      no          connecting  ike connecting, no child sa
DELETING     INSTALLED   up        no          down        ike deleting, child installed
DELETING     INSTALLED   up        yes         connecting  initiating, ike deleting, child installed
DELETING     INSTALLING  unknown   no          down        ike deleting, child installing
DELETING     -           down      no          down        ike deleting, no child sa
DESTROYING   INSTALLED   up        no          down        ike destroying, child installed
PASSIVE      INSTALLED   up        no          down        ike passive, child installed
REKEYED      -           down      no          down        ike rekeyed, no child sa
-            -           disabled  no          down        no ike sa
-            -           up        no          down        no ike sa
-            -           unknown   yes         connecting  initiating, no ike sa
-            INSTALLED   up        no          down        no ike sa
FUTURE_IKE   INSTALLED   up        no          down        ike future_ike, child installed
ESTABLISHED  FUTURE_CHD  up        no          down        ike established, child future_chd
`;

function probe(state: ProbeStatus["state"]): ProbeStatus {
  const answered = state === "up";
  return { state, rttMs: answered ? 12 : null, loss: answered ? 0 : 1, sent: 10, received: 0 };
}

const [header, ...rows] = TABLE.trim()
  .split("\n")
  .map((line) => line.split(/\s{2,}/));

t.test("the table", async (t) => {
  t.same(header, ["ike", "child", "probe", "initiating", "state", "reason"]);
  for (const row of rows) {
    t.equal(row.length, 6, `well-formed row: ${row.join(" | ")}`);
    const [ike, child, probeState, initiating, state, reason] = row as [
      string,
      string,
      ProbeStatus["state"],
      string,
      string,
      string,
    ];
    const got = deriveTunnelState({
      ike: ike === "-" ? null : ike,
      child: child === "-" ? null : child,
      probe: probe(probeState),
      initiating: initiating === "yes",
    });
    t.same(got, { state, reason }, row.slice(0, 4).join(" "));
  }
});

t.test("property: up only with the probe up or disabled; probe down is never up", async (t) => {
  const states = (names: string[]) => fc.option(fc.constantFrom(...names), { nil: null });
  const arb = fc.record({
    ike: states([
      "CREATED",
      "CONNECTING",
      "ESTABLISHED",
      "PASSIVE",
      "REKEYING",
      "REKEYED",
      "DELETING",
      "DESTROYING",
    ]),
    child: states([
      "CREATED",
      "ROUTED",
      "INSTALLING",
      "INSTALLED",
      "UPDATING",
      "REKEYING",
      "REKEYED",
      "RETRYING",
      "DELETING",
      "DELETED",
      "DESTROYING",
    ]),
    probe: fc.constantFrom("up", "down", "unknown", "disabled").map(probe),
    initiating: fc.boolean(),
  });
  fc.assert(
    fc.property(arb, (o) => {
      const { state, reason } = deriveTunnelState(o);
      if (reason.length === 0) return false;
      if (state === "up") return o.probe.state === "up" || o.probe.state === "disabled";
      return true;
    }),
  );
  t.pass("held");
});
