import { execFile, execFileSync } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { waitFor } from "../helpers/agent-lab.ts";
import { type HandCgw, handCgwConnection, startHandCgw } from "../helpers/hand-cgw.ts";
import { createNetns, deleteNetns, nsExec } from "../helpers/netns.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { startVgwPair, type VgwPair } from "../helpers/vgw-pair.ts";
import type { VgwSim } from "../helpers/vgw-sim.ts";

/**
 * AWS's side of two VPN connections on one virtual private gateway (test/helpers/vgw-pair.ts),
 * against two hand-written strongSwan customer gateways (test/helpers/hand-cgw.ts) that route
 * the same customer prefix, like a pair of appliances in front of one VPC CIDR: both
 * connections come up, the far host reaches the prefix through the connection AWS uses, and
 * when customer gateway 1 dies (charon killed, not a word to AWS) AWS's DPD timeout (its
 * default: a probe after 10 s of silence, dead after 30 s) clears its SAs and AWS moves to
 * connection 2.
 *
 *   cgw1 198.18.81.1 ══ aws1 198.18.81.11/.12 ──┐
 *                                               ├── vgw ── far 10.99.0.10
 *   cgw2 198.18.82.1 ══ aws2 198.18.82.11/.12 ──┘
 *
 * Both gateways have the customer host 10.98.0.10 (in the prefix 10.98.0.0/24) on lo.
 */
const run = promisify(execFile);
const PREFIX = "swp-vgp";
const CGW_NS = [`${PREFIX}-cgw1`, `${PREFIX}-cgw2`] as const;
const NETS = [81, 82] as const;
const CUSTOMER_PREFIX = "10.98.0.0/24";
const CUSTOMER_HOST = "10.98.0.10";
const FAR = { cidr: "10.99.0.0/16", host: "10.99.0.10" };
/** AWS's DPD of both connections' tunnels (handCgwConnection: AWS's defaults). */
const DPD_TIMEOUT_S = 30;

const dir = await tempDir(t, "swp-vgpt-");
const cgws: HandCgw[] = [];
let pair: VgwPair | undefined;
t.teardown(async () => {
  if (!t.passing()) {
    const tail = (text: string) => text.split("\n").slice(-40).join("\n");
    for (const [i, sim] of (pair?.sims ?? []).entries())
      t.comment(`simulator ${i + 1} log (tail):\n${tail(await sim.log())}`);
    for (const [i, cgw] of cgws.entries())
      t.comment(`customer gateway ${i + 1} log (tail):\n${tail(await cgw.log())}`);
  }
  for (const cgw of cgws) await cgw.stop();
  await pair?.stop();
  for (const ns of CGW_NS) deleteNetns(ns);
});

for (const ns of CGW_NS) {
  createNetns(ns);
  nsExec(ns, "ip", ["addr", "add", `${CUSTOMER_HOST}/32`, "dev", "lo"]);
}
pair = await startVgwPair({
  prefix: PREFIX,
  connections: [
    handCgwConnection({
      net: NETS[0],
      vpnConnectionId: "vpn-0a1b2c3d4e5f60711",
      staticRoutes: [CUSTOMER_PREFIX],
    }),
    handCgwConnection({
      net: NETS[1],
      vpnConnectionId: "vpn-0a1b2c3d4e5f60722",
      staticRoutes: [CUSTOMER_PREFIX],
    }),
  ],
  uplinks: [
    { peerNs: CGW_NS[0], peerAddress: `198.18.${NETS[0]}.1/24` },
    { peerNs: CGW_NS[1], peerAddress: `198.18.${NETS[1]}.1/24` },
  ],
  far: FAR,
  customerPrefixes: [CUSTOMER_PREFIX],
});
for (const [i, ns] of CGW_NS.entries()) {
  const cgwDir = join(dir, `cgw${i + 1}`);
  await mkdir(cgwDir);
  cgws.push(await startHandCgw({ ns, dir: cgwDir, net: NETS[i] as number }));
}
const p = pair;
const [cgw1, cgw2] = cgws as [HandCgw, HandCgw];

/** One echo from the far host to the customer host. */
async function farToCustomer(): Promise<boolean> {
  try {
    await run("ip", [
      "netns",
      "exec",
      p.farHost.ns,
      "ping",
      "-n",
      "-c",
      "1",
      "-W",
      "1",
      CUSTOMER_HOST,
    ]);
    return true;
  } catch {
    return false;
  }
}

/** ESP packets AWS sent into a simulator's tunnels so far (both tunnels' CHILD_SAs). */
async function sentInto(sim: VgwSim): Promise<number> {
  const sas = await sim.sas();
  return sas
    .flatMap((x) => x.ikeSas.flatMap((ike) => ike.children))
    .reduce((sum, c) => sum + c.packetsOut, 0);
}

t.test("both connections come up; AWS uses the first and stays on it", async (t) => {
  t.equal(p.using(), null, "no connection up: AWS routes the prefix nowhere");
  t.match(await p.routes(), /^blackhole 10\.98\.0\.0\/24/, "a blackhole route");
  t.notOk(await farToCustomer(), "the far host does not reach the prefix");

  t.ok(cgw1.initiate("aws1"), "gateway 1, tunnel 1 (IKEv2)");
  t.ok(cgw1.initiate("aws2"), "gateway 1, tunnel 2 (IKEv1)");
  await waitFor("AWS to use connection 1", () => p.using() === 1, 5000);
  t.ok(cgw2.initiate("aws1"), "gateway 2, tunnel 1");
  t.ok(cgw2.initiate("aws2"), "gateway 2, tunnel 2");
  await waitFor("both connections up", () => p.up().every(Boolean), 5000);
  await new Promise((r) => setTimeout(r, 500));
  t.equal(p.using(), 1, "sticky: connection 2 coming up changes nothing");
  t.same(
    p.moves().map((m) => m.to),
    [1],
    "one move: the first choice",
  );
  t.match(
    await p.routes(),
    /^10\.98\.0\.0\/24 via 198\.51\.100\.2 dev swpsim1/,
    "the VGW routes the prefix to simulator 1",
  );
  t.equal(p.lastError(), undefined, "polling goes well");
});

t.test("the far host reaches the prefix through connection 1", async (t) => {
  const before = await Promise.all(p.sims.map(sentInto));
  t.ok(await waitFor("an echo reply", farToCustomer, 5000), "far host → customer host");
  const after = await Promise.all(p.sims.map(sentInto));
  t.ok((after[0] as number) > (before[0] as number), "AWS sent it into connection 1's tunnels");
  t.equal(after[1], before[1], "none into connection 2's");
});

t.test("gateway 1 dies: after AWS's DPD timeout, AWS moves to connection 2", async (t) => {
  await cgw1.stop("SIGKILL");
  const death = Date.now();
  t.notOk(await farToCustomer(), "nothing comes back while AWS still uses connection 1");
  t.equal(p.using(), 1, "AWS does not know yet");

  // When AWS's side of each of connection 1's tunnels lost its IKE_SA, for the record.
  const cleared: (number | undefined)[] = [undefined, undefined];
  await waitFor(
    "AWS to use connection 2",
    async () => {
      const sas = await p.sims[0].sas().catch(() => undefined);
      sas?.forEach((x, i) => {
        if (x.ikeSas.length === 0) cleared[i] ??= Date.now() - death;
      });
      return p.using() === 2;
    },
    (DPD_TIMEOUT_S + 20) * 1000,
    200,
  );
  const move = p.moves().at(-1);
  const tookMs = (move?.at ?? Date.now()) - death;
  t.comment(
    `AWS moved to connection 2 ${tookMs} ms after gateway 1 died (DPD: delay 10 s, timeout ${DPD_TIMEOUT_S} s); ` +
      `connection 1's tunnels cleared after ${cleared.map((ms) => `${ms ?? "?"} ms`).join(" and ")}`,
  );
  t.ok(tookMs >= 10_000, `not before a DPD probe could have gone unanswered (${tookMs} ms)`);
  const sas1 = await p.sims[0].sas();
  t.same(
    sas1.map((x) => x.ikeSas.length),
    [0, 0],
    "AWS's DPD cleared connection 1's SAs on both tunnels",
  );
  t.same(p.up(), [false, true], "connection 1 down, 2 up");
  t.same(
    p.moves().map((m) => m.to),
    [1, 2],
    "moves() records it",
  );
  t.match(
    await p.routes(),
    /^10\.98\.0\.0\/24 via 198\.51\.100\.6 dev swpsim2/,
    "the VGW routes the prefix to simulator 2",
  );

  const before = await sentInto(p.sims[1]);
  t.ok(
    await waitFor("an echo reply through gateway 2", farToCustomer, 5000),
    "far host → customer host again",
  );
  t.ok((await sentInto(p.sims[1])) > before, "through connection 2's tunnels");
});

t.test("stop removes the pair's namespaces and links", async (t) => {
  await p.stop();
  await p.stop();
  const left = execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.startsWith(PREFIX) && !CGW_NS.some((ns) => l.startsWith(ns)));
  t.same(left, [], "no namespace of the pair left");
  for (const ns of CGW_NS)
    t.notMatch(nsExec(ns, "ip", ["-o", "link"]), /swpvgw1/, `${ns}: its uplink went too`);
});

t.test("a start that fails halfway leaves nothing behind", async (t) => {
  const prefix = `${PREFIX}x`;
  await t.rejects(
    startVgwPair({
      prefix,
      connections: [handCgwConnection({ net: NETS[0] }), handCgwConnection({ net: NETS[1] })],
      uplinks: [
        { peerNs: CGW_NS[0], peerAddress: `198.18.${NETS[0]}.1/24`, peerDev: "swpvgwx" },
        { peerNs: `${prefix}-missing`, peerAddress: `198.18.${NETS[1]}.1/24` },
      ],
      far: FAR,
      customerPrefixes: [CUSTOMER_PREFIX],
    }),
    "simulator 2's uplink has no namespace to go into",
  );
  const left = execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.startsWith(prefix));
  t.same(left, [], "no namespace left, simulator 1's included");
  t.notMatch(nsExec(CGW_NS[0], "ip", ["-o", "link"]), /swpvgwx/, "nor simulator 1's uplink");
});
