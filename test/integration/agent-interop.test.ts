import t from "tap";
import { AgentLab, waitFor } from "../helpers/agent-lab.ts";

/**
 * The agent against a charon it did not configure: side b runs plain charon-systemd with a
 * strongswan.conf and swanctl.conf written by hand (test/fixtures/interop), loaded by swanctl.
 */
const lab = await AgentLab.create("swp-iop");
t.teardown(() => lab.cleanup());
const { swanctl: swanctlB } = await lab.startPlainCharon("b");

await lab.writeConfig("a", [{ name: "one", subnet: 0, probe: false }]);
lab.startAgent("a");

t.test("the agent brings up a tunnel to a hand-configured charon", async (t) => {
  await waitFor("tunnel one up", async () => (await lab.tunnelState("a", "one")) === "up");
  t.ok(lab.ping("a", 0), "ping through the tunnel");
  t.match(swanctlB("--list-sas"), /site-a: #\d+, ESTABLISHED/, "the plain side sees its IKE_SA");
  t.match(swanctlB("--list-sas"), /lan: #\d+, reqid \d+, INSTALLED/, "and its CHILD_SA");
});

t.test("a passive agent tunnel answers when the plain side initiates", async (t) => {
  await lab.writeConfig("a", [
    { name: "one", subnet: 0, probe: false, extra: { startAction: "none" } },
  ]);
  t.ok((await lab.client("a").reload()).ok, "reloaded as a responder-only tunnel");
  // Changing the tunnel replaced its connection in charon, which may already have closed the SA.
  if (/site-a: #\d+/.test(swanctlB("--list-sas"))) swanctlB("--terminate", "--ike", "site-a");
  await waitFor(
    "tunnel one no longer up",
    async () => (await lab.tunnelState("a", "one")) !== "up",
    10_000,
  );
  swanctlB("--initiate", "--child", "lan", "--timeout", "10");
  await waitFor("tunnel one up again", async () => (await lab.tunnelState("a", "one")) === "up");
  t.ok(lab.ping("a", 0), "ping through the tunnel");
});
