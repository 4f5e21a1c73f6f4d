import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { stringify } from "yaml";
import { loadConfigFile } from "../../agent/src/config/load.ts";
import { AgentDaemon } from "../../agent/src/daemon.ts";
import { renderAll } from "../../agent/src/render/index.ts";
import { AgentLab, type TunnelSpec, waitFor } from "../helpers/agent-lab.ts";
import { captureLogger } from "../helpers/api-fakes.ts";
import { type Charon, startCharon } from "../helpers/charon.ts";
import { ViciRelay } from "../helpers/vici-relay.ts";

/**
 * charon's events reach status, and bursts of them cost little. Side a is an agent daemon in
 * this process, in external mode, whose VICI connections pass through a relay that counts
 * list-sas commands and can cut the event subscription; its resync timer is 10 minutes, so
 * within a test only events (and what they trigger) change what it reports. Side b is a normal
 * agent that only answers. Both run real charon in network namespaces.
 */
const lab = await AgentLab.create("swp-evt", { subnets: 4 });
let charon: Charon | undefined;
let relay: ViciRelay | undefined;
let daemon: AgentDaemon | undefined;
t.teardown(async () => {
  await daemon?.stop();
  await relay?.close();
  await charon?.stop("SIGKILL");
  await lab.cleanup();
});

const NAMES = ["t0", "t1", "t2", "t3"];
const tunnels = (startAction: string): TunnelSpec[] =>
  NAMES.map((name, subnet) => ({
    name,
    subnet,
    probe: false,
    ownIds: true,
    extra: { startAction },
  }));
await lab.writeRawConfig("a", stringify(lab.config("a", tunnels("start"))));
await lab.writeRawConfig("b", stringify(lab.config("b", tunnels("none"))));

const loaded = await loadConfigFile(lab.configPath("a"));
if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
const config = loaded.config;
// charon listens on the path the config names; the daemon talks to it through the relay.
await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
const confPath = join(lab.dir, "a-strongswan.conf");
await writeFile(confPath, renderAll(config, { redactSecrets: true }).strongswanConf);
charon = await startCharon({ ns: lab.ns("a"), confPath, viciSocket: config.charon.vici });
relay = await ViciRelay.start(join(lab.dir, "relay.vici"), config.charon.vici);
lab.startAgent("b");
const { logger, lines } = captureLogger();
daemon = new AgentDaemon({ configPath: lab.configPath("a"), logger, resyncMs: 600_000 });
await daemon.start({ ...config, charon: { ...config.charon, mode: "external", vici: relay.path } });

const states = () => daemon?.status().tunnels.map((tunnel) => tunnel.state) ?? [];
const run = promisify(execFile);
/** swanctl against a's charon directly, not through the relay. */
const terminate = (name: string) =>
  run("ip", [
    ...["netns", "exec", lab.ns("a"), "swanctl", "--terminate", "--ike", name],
    ...["--uri", `unix://${config.charon.vici}`],
  ]);

t.test("a burst of events: at most one list-sas in flight and one queued", async (t) => {
  await waitFor("all tunnels up", () => states().every((s) => s === "up"), 30_000);
  const r = relay as ViciRelay;
  // The re-reads the bring-up's events caused are over once none came for half a second.
  for (let n = -1; n !== r.count("list-sas"); ) {
    n = r.count("list-sas");
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  // A slow charon: each list-sas takes 1.5 s, so the whole burst lands while one is held.
  r.delays.set("list-sas", 1500);
  const before = { listSas: r.count("list-sas"), events: r.events.length };
  await Promise.all(NAMES.map(terminate));
  await waitFor("all tunnels seen down", () => states().every((s) => s !== "up"), 10_000);
  // Let any list-sas still queued run, so a third would be counted too.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const events = r.events.slice(before.events).filter((e) => /updown/.test(e));
  t.ok(events.length >= NAMES.length * 2, `${events.length} events (ike-updown, child-updown)`);
  t.equal(r.count("list-sas") - before.listSas, 2, "two list-sas: the first, and one for the rest");
  r.delays.clear();
});

t.test("when charon closes the event subscription, the agent subscribes again", async (t) => {
  const r = relay as ViciRelay;
  t.equal(r.cut("ike-updown"), 1, "the agent's subscription was cut");
  const again = await waitFor(
    "a new subscription",
    () => lines.findLast((l) => l.msg === "subscribed to charon's events again"),
    5000,
  );
  t.match(again, { level: 40, reason: "charon closed the event connection" });
  t.equal(r.subscribers("ike-updown"), 1);
  t.ok(
    states().every((s) => s !== "up"),
    "still not up",
  );
  // b brings the tunnels up; only a's events can tell its daemon.
  for (const name of NAMES) lab.swanctl("b", "--initiate", "--child", name, "--timeout", "10");
  await waitFor("all tunnels up again", () => states().every((s) => s === "up"), 10_000);
  t.pass("the state change reached status through events");
});
