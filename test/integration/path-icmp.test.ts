import { performance } from "node:perf_hooks";
import t from "tap";
import { stringify } from "yaml";
import type { PathStatus } from "../../common/agent-api/status.ts";
import { AgentLab, waitFor } from "../helpers/agent-lab.ts";
import { nsExec } from "../helpers/netns.ts";

/**
 * An icmp path with the real agent: appliance a pings a host in b's namespace that runs no
 * agent, as a host behind an AWS VPN gateway would be, from a's inside address 10.1.0.10
 * (`source`). b answers echoes from that address only, and routes its replies back to it
 * only: the path is up only if the echoes really leave from `source`.
 */
const TIMING = { intervalMs: 100, fall: 3, rise: 2 };

const lab = await AgentLab.create("swp-picmp", { subnets: 1 });
t.teardown(async () => {
  if (!t.passing()) t.comment(`agent a log (tail):\n${(await lab.log("a")).slice(-4000)}`);
  await lab.cleanup();
});

const [a, b] = [lab.ns("a"), lab.ns("b")];
const source = lab.insideAddress("a");
const target = lab.insideAddress("b");
nsExec(a, "ip", ["route", "add", `${target}/32`, "via", "198.18.0.2"]);
const REPLY_ROUTE = [`${source}/32`, "via", "198.18.0.1"];
nsExec(b, "ip", ["route", "add", ...REPLY_ROUTE]);
const ECHO = ["-p", "icmp", "--icmp-type", "echo-request"];
nsExec(b, "iptables", ["-A", "INPUT", ...ECHO, "-s", source, "-j", "ACCEPT"]);
nsExec(b, "iptables", ["-A", "INPUT", ...ECHO, "-j", "DROP"]);

/** Echo requests b's INPUT rules counted: [from source, from anywhere else]. */
function echoCounts(): [number, number] {
  const rules = nsExec(b, "iptables", ["-nvxL", "INPUT"])
    .split("\n")
    .filter((line) => /icmptype 8/.test(line));
  const packets = rules.map((line) => Number(line.trim().split(/\s+/)[0]));
  return [packets[0] ?? Number.NaN, packets[1] ?? Number.NaN];
}

async function writeConfig(paths: Record<string, unknown>[]) {
  await lab.writeRawConfig("a", stringify({ ...lab.config("a", []), paths }));
}

const icmpPath = { name: "vgw", method: "icmp", target, source, ...TIMING };
await writeConfig([icmpPath]);
lab.startAgent("a");

async function path(): Promise<PathStatus | undefined> {
  return (await lab.status("a"))?.paths.find((p) => p.name === "vgw");
}

/** Polls every 10 ms until the path is in `state`; returns it with the time it was seen. */
async function pathIn(state: PathStatus["state"], timeoutMs: number) {
  return waitFor(
    `path vgw ${state}`,
    async () => {
      const p = await path();
      return p?.state === state ? { at: performance.now(), path: p } : null;
    },
    timeoutMs,
    10,
  );
}

t.test("the path comes up on echo replies, sent from source", async (t) => {
  const { path: up } = await pathIn("up", 20_000);
  t.equal(up.target, target);
  t.ok(up.rttMs !== null && up.rttMs > 0, `RTT ${up.rttMs} ms`);
  t.ok(up.received >= TIMING.rise, `${up.received}/${up.sent}`);
  const [fromSource, fromElsewhere] = echoCounts();
  t.ok(fromSource >= TIMING.rise, `${fromSource} echoes from ${source}`);
  t.equal(fromElsewhere, 0, "none from another address");
});

t.test("black-holed: down after `fall` losses; healed: up after `rise` replies", async (t) => {
  await pathIn("up", 10_000);
  const dropping = performance.now();
  nsExec(b, "ip", ["route", "replace", "blackhole", `${source}/32`]);
  const down = await pathIn("down", 5000);
  const fallMs = down.at - dropping;
  t.ok(fallMs >= (TIMING.fall - 1) * TIMING.intervalMs, `down after ${fallMs.toFixed(0)} ms`);
  // ping reports a loss when the next echo leaves; polling adds a little.
  t.ok(fallMs < (TIMING.fall + 2) * TIMING.intervalMs + 1000, "not much later");
  t.ok(down.path.loss > 0, `loss ${down.path.loss}`);

  const healing = performance.now();
  nsExec(b, "ip", ["route", "replace", ...REPLY_ROUTE]);
  const up = await pathIn("up", 5000);
  const riseMs = up.at - healing;
  t.ok(riseMs >= (TIMING.rise - 1) * TIMING.intervalMs - 5, `up after ${riseMs.toFixed(0)} ms`);
  t.ok(riseMs < (TIMING.rise + 2) * TIMING.intervalMs + 1000, "not much later");
  t.ok(Date.parse(up.path.since) > Date.parse(down.path.since), "since moved with the state");
});

t.test("a reload that changes the method restarts the path", async (t) => {
  const before = (await pathIn("up", 10_000)).path;
  // No agent answers at the target: as a udp path it must go down.
  await writeConfig([{ ...icmpPath, method: "udp" }]);
  const result = await lab.client("a").reload();
  t.ok(result.ok, "reload accepted", { result });
  const down = await pathIn("down", 5000);
  t.equal(down.path.received, 0, "no udp answers: a new prober, not the pinger");
  t.ok(down.path.sent < before.sent, "its counters started afresh");

  await writeConfig([icmpPath]);
  t.ok((await lab.client("a").reload()).ok, "back to icmp");
  await pathIn("up", 5000);
});
