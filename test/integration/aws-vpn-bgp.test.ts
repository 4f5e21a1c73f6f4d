import t from "tap";
import type { CheckResult } from "../../agent/src/preflight/checks.ts";
import { AGENT_BIN, waitFor } from "../helpers/agent-lab.ts";
import { bothUp, type CgwLab, killCarrier, startCgwLab, TUNNELS } from "../helpers/cgw-lab.ts";
import { nsExec } from "../helpers/netns.ts";
import { spawnCli } from "../helpers/swanpair-bin.ts";

/**
 * The agent as the customer gateway of an AWS VPN connection with BGP, against the VGW
 * simulator speaking BGP as AWS's VGW does (FRR, its ASN, the hold time of the connection):
 * the agent's bgpd (zebra and bgpd, children of the agent) holds one session per tunnel, a
 * tunnel is up only once its session is Established and AWS's prefixes arrived, the learned
 * route carries traffic, and a reload that adds a network is hitless.
 */

const lab: CgwLab = await startCgwLab({
  prefix: "swp-awsb",
  net: 73,
  routing: "bgp",
  holdTimeS: 9,
});
t.teardown(() => lab.stop());

t.test("both sessions Established, AWS's prefix learned, traffic passes", async (t) => {
  const up = await bothUp(lab, 45_000);
  for (const name of TUNNELS) {
    t.equal(up[name]?.bgp?.state, "Established", `${name}: session Established`);
    t.ok((up[name]?.bgp?.prefixesReceived ?? 0) >= 1, `${name}: AWS's prefix received`);
    t.match(up[name]?.reason, /bgp established/);
  }
  // bgpd counts the prefix before zebra has installed it into the kernel: allow it a moment.
  const route = /10\.99\.0\.0\/16 .*via 169\.254\.73\.[15] dev ipsec0/;
  const installed = await waitFor(
    "zebra's route",
    () => route.test(nsExec(lab.cgw, "ip", ["route", "show", "proto", "bgp"])),
    5000,
  ).catch(() => false);
  t.ok(installed, "zebra installed the route AWS announced, into the tunnel");
  t.ok(await waitFor("a ping through", () => lab.ping(), 10_000), "lan host → far host");
  const aws = await lab.sim.bgp();
  t.same(
    aws.map((s) => s.state),
    ["Established", "Established"],
    "AWS's side has both sessions",
  );
  t.ok(
    aws.every((s) => s.prefixesReceived >= 1),
    "and learned the LAN from each",
  );
  const metrics = await lab.metrics();
  t.match(metrics, /swanpair_bgp_session_established\{tunnel="to-aws-t1"\} 1/);
  t.match(metrics, /swanpair_bgp_prefixes_received\{tunnel="to-aws-t2"\} [1-9]/);
});

t.test("a reload that announces one more network is hitless", async (t) => {
  const before = await lab.tunnels();
  const result = await lab.reload((entry) => ({
    ...entry,
    advertise: [...(entry.advertise as string[]), "10.73.2.0/24"],
  }));
  t.ok(result.ok, "reloaded");
  const learned = await waitFor(
    "AWS learning the new network",
    async () => /10\.73\.2\.0\/24/.test(await lab.sim.bgpRoutes()),
    15_000,
  ).catch(() => false);
  t.ok(learned, "AWS's side learned 10.73.2.0/24");
  const after = await lab.tunnels();
  for (const name of TUNNELS) {
    t.equal(after[name]?.state, "up", `${name} still up`);
    t.equal(after[name]?.since, before[name]?.since, `${name}: no state change (hitless)`);
  }
});

t.test("AWS's endpoint of the carrying tunnel dies: traffic and sessions move", async (t) => {
  const k = await killCarrier(lab);
  t.comment(
    `BGP, tunnel ${k.dead} → tunnel ${3 - k.dead}: the longest time without a reply was ${k.gapMs.toFixed(0)} ms`,
  );
  t.ok(k.moved && k.flowing, "the other tunnel carries, and replies come back");
  t.ok(k.gapMs < 3000, `the gap (${k.gapMs.toFixed(0)} ms) is under 3 s`);
  const sessions = await lab.tunnels();
  t.equal(
    sessions[TUNNELS[2 - k.dead] as string]?.bgp?.state,
    "Established",
    "the carrying tunnel's session is Established",
  );
  await lab.sim.heal(k.dead);
});

t.test("doctor checks what BGP needs: ip, ping, zebra, bgpd, vtysh", async (t) => {
  const r = await spawnCli(AGENT_BIN, ["doctor", "--config", lab.configPath, "--json"]);
  const checks = (JSON.parse(r.stdout) as { checks: CheckResult[] }).checks;
  for (const name of ["ip", "ping", "zebra", "bgpd", "vtysh"])
    t.equal(checks.find((c) => c.id === `program:${name}`)?.status, "pass", `program:${name}`);
});
