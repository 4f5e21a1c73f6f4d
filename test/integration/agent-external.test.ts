import { execFileSync } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { stringify } from "yaml";
import { charonRestarting } from "../../control-plane/src/controller/observation.ts";
import { AGENT_BIN, AgentLab, waitFor } from "../helpers/agent-lab.ts";
import { type Charon, startCharon } from "../helpers/charon.ts";

/**
 * External mode: charon is run by someone else (systemd on an appliance); the agent only
 * speaks VICI to it. Side a's charon is started here from the strongswan.conf that
 * `swanpair-agent render --out` wrote, as an operator would; side b is a normal agent.
 */
const lab = await AgentLab.create("swp-ext");
let charon: Charon | undefined;
t.teardown(async () => {
  await charon?.stop("SIGKILL");
  await lab.cleanup();
});

const one = [{ name: "one", subnet: 0 }];
const external = { ...lab.config("a", one), charon: { mode: "external", vici: lab.vici("a") } };
await lab.writeRawConfig("a", stringify(external));
await lab.writeConfig("b", one);

const rendered = join(lab.dir, "rendered");
execFileSync(process.execPath, [
  AGENT_BIN,
  "render",
  "--config",
  lab.configPath("a"),
  "--out",
  rendered,
]);
// What systemd's RuntimeDirectory= would provide for the external charon.
await mkdir(join(lab.dir, "a"), { recursive: true, mode: 0o700 });
const startExternal = () =>
  startCharon({
    ns: lab.ns("a"),
    confPath: join(rendered, "strongswan.conf"),
    viciSocket: lab.vici("a"),
  });

charon = await startExternal();
const charonStarted = Date.now();
lab.startAgent("a");
lab.startAgent("b");

t.test("the agent drives a charon it did not start", async (t) => {
  await waitFor("tunnel one up", async () => (await lab.tunnelState("a", "one")) === "up");
  t.ok(lab.ping("a", 0), "ping through the tunnel");
  const status = await lab.status("a");
  t.equal(status?.charon.mode, "external");
  t.equal(status?.charon.pid, null, "no child charon");
  t.equal(status?.charon.state, "running");
});

t.test("when the external charon restarts, the agent reconnects and reloads it", async (t) => {
  await charon?.stop("SIGKILL");
  const killedAt = Date.now();
  const gone = await waitFor("agent sees charon gone", async () => {
    const s = await lab.status("a");
    return s?.charon.state === "restarting" ? s : undefined;
  });
  const exit = gone.charon.lastExit;
  t.match(exit, { code: null, signal: null }, "the loss is reported as an exit");
  const ranMs = exit?.ranMs ?? 0;
  t.ok(
    ranMs >= killedAt - charonStarted - 1500 && ranMs <= killedAt - charonStarted + 3000,
    `it ran ${ranMs} ms by charon's own start time (${killedAt - charonStarted} ms measured here)`,
  );
  // Under 30 s: a crash loop for all the controller can tell, so no grace (the install test
  // kills a charon that ran longer, under systemd, and sees the grace given).
  t.notOk(charonRestarting(gone, Date.now()), "a charon that ran under 30 s gets no grace");
  charon = await startExternal(); // what systemd's Restart= would do
  await waitFor("tunnel one up again", async () => (await lab.tunnelState("a", "one")) === "up");
  t.ok(lab.ping("a", 0), "traffic passes again");
  t.match(
    lab.swanctl("a", "--list-conns"),
    /^one: IKEv2/m,
    "the agent loaded its connection again",
  );
  const back = await lab.status("a");
  t.equal(back?.charon.restarts, 0, "the agent restarted nothing itself");
  t.equal(back?.charon.state, "running");
  t.same(back?.charon.lastExit, exit, "the last exit stays reported");
});
