import { execFile } from "node:child_process";
import { performance } from "node:perf_hooks";
import { promisify } from "node:util";
import t from "tap";
import type { PathStatus } from "../../common/agent-api/status.ts";
import { AGENT_BIN, AgentLab, type PathSpec, waitFor } from "../helpers/agent-lab.ts";
import { nsExec } from "../helpers/netns.ts";

/**
 * Path probes with real agents and a real tunnel: appliances a and b hold tunnel "one", and
 * a2 (namespace "as") sits behind a as the standby of a's pair. a2's agent probes b's inside
 * address along its only route, via a and a's tunnel, as a VPC's routes would send it
 * through the active member. When a stops forwarding, a2's path goes down while a's own
 * tunnel stays up: the path measures the route through the member, not a tunnel of a2's.
 */
const run = promisify(execFile);
const TIMING = { intervalMs: 100, fall: 3, rise: 2 };

const lab = await AgentLab.create("swp-path");
t.teardown(async () => {
  if (t.passing()) return lab.cleanup();
  for (const host of ["a", "b", "as"] as const) {
    const tail = (await lab.log(host)).split("\n").slice(-40).join("\n");
    t.comment(`agent ${host} log (tail):\n${tail}`);
  }
  await lab.cleanup();
});

const standby = lab.addStandby("a");
const tunnel = [{ name: "one", subnet: 0 }];
await lab.writeConfig("a", tunnel);
await lab.writeConfig("b", tunnel);
await lab.writeStandbyConfig("a", [{ name: "ab" }]);
lab.startAgent("a");
lab.startAgent("b");
lab.startAgent("as");

async function path(name: string): Promise<PathStatus | undefined> {
  return (await lab.status("as"))?.paths.find((p) => p.name === name);
}

/** Polls every 10 ms until the path is in `state`; returns it with the time it was seen. */
async function pathIn(name: string, state: PathStatus["state"], timeoutMs: number) {
  return waitFor(
    `path ${name} ${state}`,
    async () => {
      const p = await path(name);
      return p?.state === state ? { at: performance.now(), path: p } : null;
    },
    timeoutMs,
    10,
  );
}

/** Drops a2's probes where a forwards them; the ESP and a's own probes still pass. */
const DROP = ["FORWARD", "-s", standby.address, "-p", "udp", "--dport", "7208", "-j", "DROP"];

t.test("the standby's path through the appliance's tunnel comes up", async (t) => {
  await waitFor("a's tunnel up", async () => (await lab.tunnelState("a", "one")) === "up");
  const { path: ab } = await pathIn("ab", "up", 5000);
  t.equal(ab.target, lab.insideAddress("b", 0));
  t.ok(ab.rttMs !== null && ab.rttMs > 0, `RTT ${ab.rttMs} ms`);
  t.ok(ab.received >= TIMING.rise && ab.sent >= ab.received, `${ab.received}/${ab.sent}`);
  t.ok(!Number.isNaN(Date.parse(ab.since)), "since is a time");

  const valid = await run(process.execPath, [
    AGENT_BIN,
    "validate",
    "--config",
    lab.configPath("as"),
  ]);
  t.match(valid.stdout, /: valid \(0 tunnels, 1 paths\)$/m, "validate counts the paths");
  const table = await run(process.execPath, [AGENT_BIN, "status", "--socket", lab.socket("as")]);
  t.match(table.stdout, /^PATH\s+STATE\s+TARGET/m, "status prints a paths section");
  t.match(table.stdout, /^ab\s+up\s+10\.2\.0\.20\s/m);
  const metrics = await lab.client("as").metrics();
  t.match(metrics, /^swanpair_path_up\{path="ab"\} 1$/m);
  t.match(metrics, /^swanpair_path_rtt_seconds\{path="ab"\} [0-9.e-]+$/m);
});

t.test("a stops forwarding: down after `fall` losses, up after `rise` answers", async (t) => {
  await pathIn("ab", "up", 10_000);
  const dropping = performance.now();
  nsExec(lab.ns("a"), "iptables", ["-I", ...DROP]);
  const dropped = performance.now();
  const down = await pathIn("ab", "down", 5000);
  const fallMs = down.at - dropping;
  t.ok(fallMs >= (TIMING.fall - 1) * TIMING.intervalMs, `down after ${fallMs.toFixed(0)} ms`);
  // Each loss is decided at its timeout, min(intervalMs, 1 s); polling adds a little.
  const lateMs = down.at - dropped;
  t.ok(lateMs < (TIMING.fall + 1) * TIMING.intervalMs + 1000, `not much later: ${lateMs}`);
  t.ok(down.path.loss > 0, `loss ${down.path.loss}`);
  t.equal(await lab.tunnelState("a", "one"), "up", "a's own tunnel and probe are fine");

  const restoring = performance.now();
  nsExec(lab.ns("a"), "iptables", ["-D", ...DROP]);
  const restored = performance.now();
  const up = await pathIn("ab", "up", 5000);
  const riseMs = up.at - restoring;
  t.ok(riseMs >= (TIMING.rise - 1) * TIMING.intervalMs - 5, `up after ${riseMs.toFixed(0)} ms`);
  t.ok(up.at - restored < (TIMING.rise + 1) * TIMING.intervalMs + 1000, "not much later");
  t.ok(Date.parse(up.path.since) > Date.parse(down.path.since), "since moved with the state");
});

t.test(
  "a reload adds, restarts and removes paths; untouched ones keep their history",
  async (t) => {
    const reload = async (paths: PathSpec[]) => {
      await lab.writeStandbyConfig("a", paths);
      const result = await lab.client("as").reload();
      t.ok(result.ok, "reload accepted", { result });
    };
    const before = (await pathIn("ab", "up", 10_000)).path;

    // Nothing answers at 10.2.0.99: b has no responder there.
    await reload([{ name: "ab" }, { name: "nowhere", target: "10.2.0.99" }]);
    const nowhere = await pathIn("nowhere", "down", 5000);
    t.equal(nowhere.path.received, 0);
    const kept = await path("ab");
    t.equal(kept?.state, "up");
    t.ok((kept?.sent ?? 0) > before.sent, "ab kept counting: not restarted");
    t.equal(kept?.since, before.since, "and its since did not move");

    await reload([{ name: "ab", extra: { intervalMs: 200 } }]);
    const restarted = await path("ab");
    t.ok((restarted?.sent ?? Infinity) < (kept?.sent ?? 0), "a changed path starts afresh");
    t.same(
      (await lab.status("as"))?.paths.map((p) => p.name),
      ["ab"],
      "a removed path is gone",
    );
    await pathIn("ab", "up", 5000);

    await reload([]);
    t.same((await lab.status("as"))?.paths, [], "no paths configured, none reported");
  },
);
