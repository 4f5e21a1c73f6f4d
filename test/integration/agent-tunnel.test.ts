import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { AGENT_BIN, AgentLab, PSK, waitFor } from "../helpers/agent-lab.ts";
import { nsExec } from "../helpers/netns.ts";

/**
 * Two real agents in two namespaces: the tunnel comes up, traffic passes, reloads are
 * hitless for untouched tunnels, a bad reload changes nothing, and a killed charon comes back.
 */
const run = promisify(execFile);

const lab = await AgentLab.create("swp-tun");
t.teardown(async () => {
  if (t.passing()) return lab.cleanup();
  t.comment(`agent a log (tail):\n${(await lab.log("a")).split("\n").slice(-40).join("\n")}`);
  t.comment(`agent b log (tail):\n${(await lab.log("b")).split("\n").slice(-40).join("\n")}`);
  await lab.cleanup();
});

const first = [{ name: "one", subnet: 0 }];
await lab.writeConfig("a", first);
await lab.writeConfig("b", first);
lab.startAgent("a");
lab.startAgent("b");

/** IKE and CHILD unique ids of a tunnel, read from charon itself. */
function saIds(side: "a" | "b", name: string) {
  const out = lab.swanctl(side, "--list-sas", "--ike", name);
  const ike = /#(\d+), ESTABLISHED/.exec(out)?.[1];
  const child = new RegExp(`${name}: #(\\d+), reqid \\d+, INSTALLED`).exec(out)?.[1];
  return { ike, child };
}

t.test("the tunnel comes up and carries traffic", async (t) => {
  await waitFor("tunnel one up on both sides", async () => {
    return (
      (await lab.tunnelState("a", "one")) === "up" && (await lab.tunnelState("b", "one")) === "up"
    );
  });
  t.ok(lab.ping("a", 0), "ping 10.1.0.10 → 10.2.0.20 passes through ESP");
  t.ok(lab.ping("b", 0), "and back");

  const { stdout } = await run(process.execPath, [
    AGENT_BIN,
    "status",
    "--socket",
    lab.socket("a"),
    "--json",
  ]);
  const status = JSON.parse(stdout);
  const one = status.tunnels.find((x: { name: string }) => x.name === "one");
  t.equal(one.state, "up", "status --json says up");
  t.type(one.probe.rttMs, "number", "probe reports an RTT");
  // Probes lost before the tunnel was up leave the window as the tunnel carries traffic.
  await waitFor("probe loss back to 0", async () => {
    const s = await lab.status("a");
    return s?.tunnels[0]?.probe.loss === 0;
  });
  t.equal(status.charon.state, "running");

  const table = await run(process.execPath, [AGENT_BIN, "status", "--socket", lab.socket("a")]);
  t.match(table.stdout, /one\s+up/, "the human table lists the tunnel as up");

  const metrics = await lab.client("a").metrics();
  t.match(metrics, /swanpair_tunnel_up\{tunnel="one"\} 1/);
});

t.test("a tunnel whose probes fail is down even with its CHILD_SA installed", async (t) => {
  // Drop the far agent's probe traffic after decryption: ESP and IKE still pass.
  const rule = ["INPUT", "-i", "ipsec0", "-p", "udp", "--dport", "7208", "-j", "DROP"];
  nsExec(lab.ns("b"), "iptables", ["-A", ...rule]);
  try {
    const down = await waitFor("tunnel one down", async () => {
      const one = (await lab.status("a"))?.tunnels.find((x) => x.name === "one");
      return one?.state === "down" ? one : null;
    });
    t.equal(down?.child?.state, "INSTALLED", "the CHILD_SA is still installed");
    t.equal(down?.probe.state, "down");
    t.match(down?.reason, /probe down/);
  } finally {
    nsExec(lab.ns("b"), "iptables", ["-D", ...rule]);
  }
  await waitFor("tunnel one up again", async () => (await lab.tunnelState("a", "one")) === "up");
  t.pass("up again once probes pass");
});

t.test("the PSK appears in no log, command line or environment", async (t) => {
  const logs = `${await lab.log("a")}${await lab.log("b")}`;
  t.ok(logs.length > 0, "there are logs to check");
  t.notOk(logs.includes(PSK), "not in the agents' logs");
  const charonLog = await readFile(join(lab.dir, "a", "charon.log"), "utf8");
  t.notOk(charonLog.includes(PSK), "not in charon's log");
  for (const side of ["a", "b"] as const) {
    const charonPid = (await lab.status(side))?.charon.pid;
    const agentPid = lab.agent(side)?.pid;
    for (const pid of [charonPid, agentPid]) {
      for (const file of ["cmdline", "environ"]) {
        const text = await readFile(`/proc/${pid}/${file}`, "utf8");
        t.notOk(text.includes(PSK), `not in ${side} pid ${pid} ${file}`);
      }
    }
  }
});

t.test("adding a tunnel leaves the existing one's SAs untouched", async (t) => {
  const before = saIds("a", "one");
  t.ok(before.ike && before.child, `tunnel one has SAs (${JSON.stringify(before)})`);
  const two = [...first, { name: "two", subnet: 1, ownIds: true }];
  await lab.writeConfig("a", two);
  await lab.writeConfig("b", two);
  const rb = await lab.client("b").reload();
  const ra = await lab.client("a").reload();
  t.same(ra.loaded, ["two"], "only the new tunnel was sent to charon");
  t.same(ra.unchanged, ["one"]);
  t.ok(rb.ok);
  await waitFor("tunnel two up", async () => (await lab.tunnelState("a", "two")) === "up");
  t.ok(lab.ping("a", 1), "traffic passes through the new tunnel");
  t.same(saIds("a", "one"), before, "tunnel one kept its IKE and CHILD SA ids");
});

t.test("changing one tunnel leaves the other's SAs untouched", async (t) => {
  const before = saIds("a", "one");
  const changed = [
    { name: "one", subnet: 0 },
    { name: "two", subnet: 1, ownIds: true, extra: { dpdDelayS: 20 } },
  ];
  await lab.writeConfig("a", changed);
  await lab.writeConfig("b", changed);
  const ra = await lab.client("a").reload();
  await lab.client("b").reload();
  t.same(ra.loaded, ["two"], "only the changed tunnel was sent");
  await waitFor(
    "tunnel two up after its change",
    async () => (await lab.tunnelState("a", "two")) === "up",
  );
  t.same(saIds("a", "one"), before, "tunnel one kept its IKE and CHILD SA ids");
  t.ok(lab.ping("a", 0));
});

t.test("a rejected reload leaves charon's connections as they were", async (t) => {
  const connsBefore = lab.swanctl("a", "--list-conns");
  const sasBefore = saIds("a", "one");
  const good = await import("node:fs/promises").then((fs) =>
    fs.readFile(lab.configPath("a"), "utf8"),
  );
  await lab.writeRawConfig("a", good.replace("10.2.0.0/24", "10.2.0.0/33"));
  const result = await lab.client("a").reload();
  t.equal(result.ok, false, "the reload is refused");
  t.match(result.issues?.[0], { rule: "format" }, "with the broken rule");
  t.match(result.issues?.[0]?.path, /remoteSubnets\[0\]/, "and the field path");
  t.equal(lab.swanctl("a", "--list-conns"), connsBefore, "charon holds the same connections");
  t.same(saIds("a", "one"), sasBefore, "and the same SAs");

  // The CLI says the same, and exits 2 as for any invalid config.
  const cli = await run(process.execPath, [AGENT_BIN, "reload", "--socket", lab.socket("a")]).then(
    () => ({ code: 0, stderr: "" }),
    (e: { code: number; stderr: string }) => e,
  );
  t.equal(cli.code, 2, "swanpair-agent reload exits 2");
  t.match(cli.stderr, /^tunnels\[0\]\.remoteSubnets\[0\]: invalid CIDR .* \[format\]$/m);
  t.match(cli.stderr, /reload rejected: .*nothing changed/);

  // SIGHUP takes the same path as POST /v1/reload.
  lab.agent("a")?.kill("SIGHUP");
  await waitFor("SIGHUP reload logged", async () => /SIGHUP reload/.test(await lab.log("a")), 5000);
  t.equal(
    lab.swanctl("a", "--list-conns"),
    connsBefore,
    "SIGHUP with a bad file changes nothing either",
  );
  await lab.writeRawConfig("a", good);
});

t.test(
  "after charon is killed with SIGKILL the agent restarts it and traffic returns",
  async (t) => {
    const status = await lab.status("a");
    const pid = status?.charon.pid;
    t.ok(pid, "charon runs as the agent's child");
    const killedAt = performance.now();
    process.kill(pid as number, "SIGKILL");
    await waitFor("charon restarted", async () => {
      const s = await lab.status("a");
      return s?.charon.pid && s.charon.pid !== pid && s.charon.state === "running";
    });
    await waitFor("ping through tunnel one again", () => lab.ping("a", 0, 0.2), 20_000, 0);
    const trafficMs = Math.round(performance.now() - killedAt);
    await waitFor("tunnel one up again", async () => (await lab.tunnelState("a", "one")) === "up");
    const upMs = Math.round(performance.now() - killedAt);
    t.comment(`charon SIGKILL → traffic flows again: ${trafficMs} ms; → status up: ${upMs} ms`);
    t.equal((await lab.status("a"))?.charon.restarts, 1, "one restart counted");
    t.ok(lab.ping("b", 0), "traffic passes both ways");
  },
);

t.test("initiate and terminate through the API", async (t) => {
  const before = saIds("a", "two");
  await lab.client("a").terminate("two");
  // The peer's close_action (start) or the agent's next resync brings a start tunnel back,
  // on a new CHILD_SA: terminate acts like VyOS `reset vpn ipsec`.
  const after = await waitFor("tunnel two re-established on a new CHILD_SA", async () => {
    const ids = saIds("a", "two");
    return ids.child && ids.child !== before.child && (await lab.tunnelState("a", "two")) === "up"
      ? ids
      : null;
  });
  t.not(after?.child, before.child, "terminate replaced the CHILD_SA");
  const settled = saIds("a", "two");
  await lab.client("a").initiate("two");
  t.same(saIds("a", "two"), settled, "initiate on an up tunnel changes nothing");
  await t.rejects(lab.client("a").initiate("nope"), { code: "SWP_ERR_API_REQUEST" });
});
