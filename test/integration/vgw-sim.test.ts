import { execFile, execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { promisify } from "node:util";
import t from "tap";
import type { AwsVpnConnection } from "../../common/aws-vpn/model.ts";
import { waitFor } from "../helpers/agent-lab.ts";
import {
  HAND_CGW_PSK,
  type HandCgw,
  handCgwConnection,
  startHandCgw,
} from "../helpers/hand-cgw.ts";
import { createNetns, deleteNetns, nsExec } from "../helpers/netns.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { type Frr, startFrr, startVgwSim, type VgwSim } from "../helpers/vgw-sim.ts";

/**
 * The VGW simulator alone, against a plain strongSwan customer gateway configured by hand
 * (test/fixtures/vgw-sim/customer): AWS waits for the customer to initiate, both tunnels come
 * up (tunnel 1 IKEv2, tunnel 2 IKEv1), a host behind the customer reaches the far host, and
 * blackhole, heal, terminate and refusals behave as AWS's endpoints would. Then the same with
 * BGP: FRR on both sides, configured by hand on the customer's.
 *
 *   lan 10.98.0.10 ── cgw 198.18.71.1 ══ aws 198.18.71.11/.12 ── far 10.99.0.10
 */
const run = promisify(execFile);
const PREFIX = "swp-vgw";
const CGW_NS = `${PREFIX}-cgw`;
const LAN_NS = `${PREFIX}-lan`;
const LAN_HOST = "10.98.0.10";
const FAR = { cidr: "10.99.0.0/16", host: "10.99.0.10" };
const PSK = HAND_CGW_PSK;

/** The connection the customer fixture was written from (test/helpers/hand-cgw.ts). */
const CONNECTION: AwsVpnConnection = handCgwConnection();

/** The same connection with BGP routing: AWS's ASN 64512 (the default), ours 65000. */
const BGP_HOLD_S = 9;
const { staticRoutes: _static, ...STATIC_REST } = CONNECTION;
const BGP_CONNECTION: AwsVpnConnection = {
  ...STATIC_REST,
  routing: "bgp",
  tunnels: [
    {
      ...CONNECTION.tunnels[0],
      bgp: { customerGatewayAsn: 65000, vpnGatewayAsn: 64512, holdTimeS: BGP_HOLD_S },
    },
    {
      ...CONNECTION.tunnels[1],
      bgp: { customerGatewayAsn: 65000, vpnGatewayAsn: 64512, holdTimeS: BGP_HOLD_S },
    },
  ],
};

const dir = await tempDir(t, "swp-vgwt-");
let sim: VgwSim | undefined;
let customer: HandCgw | undefined;
let customerFrr: Frr | undefined;
t.teardown(async () => {
  if (!t.passing()) {
    const tail = (text: string) => text.split("\n").slice(-60).join("\n");
    t.comment(`simulator log (tail):\n${tail((await sim?.log()) ?? "")}`);
    t.comment(`customer log (tail):\n${tail((await customer?.log()) ?? "")}`);
    t.comment(`simulator bgpd log (tail):\n${tail((await sim?.bgpLog()) ?? "")}`);
    t.comment(`customer bgpd log (tail):\n${tail((await customerFrr?.log()) ?? "")}`);
  }
  await customerFrr?.stop();
  await customer?.stop();
  await sim?.stop();
  deleteNetns(LAN_NS);
  deleteNetns(CGW_NS);
});

// The customer gateway's namespace, and a host on its LAN.
createNetns(CGW_NS);
createNetns(LAN_NS);
const lanLink = `link add swplan0 netns ${CGW_NS} type veth peer name swplan1 netns ${LAN_NS}`;
execFileSync("ip", lanLink.split(" "));
nsExec(CGW_NS, "ip", ["addr", "add", "10.98.0.1/24", "dev", "swplan0"]);
nsExec(CGW_NS, "ip", ["link", "set", "swplan0", "up"]);
nsExec(LAN_NS, "ip", ["addr", "add", `${LAN_HOST}/24`, "dev", "swplan1"]);
nsExec(LAN_NS, "ip", ["link", "set", "swplan1", "up"]);
nsExec(LAN_NS, "ip", ["route", "add", "default", "via", "10.98.0.1"]);
nsExec(CGW_NS, "sysctl", ["-qw", "net.ipv4.ip_forward=1"]);

sim = await startVgwSim({
  prefix: PREFIX,
  connection: CONNECTION,
  uplink: { peerNs: CGW_NS, peerAddress: "198.18.71.1/24" },
  far: FAR,
  customerPrefixes: ["10.98.0.0/24"],
});

// The hand-written customer gateway (test/helpers/hand-cgw.ts), both tunnels loaded.
customer = await startHandCgw({ ns: CGW_NS, dir });
const cgw = customer;
const { swanctl, initiate } = cgw;

async function ping(ns: string, to: string, from?: string): Promise<boolean> {
  const source = from ? ["-I", from] : [];
  try {
    await run("ip", ["netns", "exec", ns, "ping", "-n", "-c", "1", "-W", "1", ...source, to]);
    return true;
  } catch {
    return false;
  }
}
const lanToFar = () => ping(LAN_NS, FAR.host);

/** Rekeys a customer child, then waits until the simulator installed the new one. */
async function rekey(child: "aws1" | "aws2") {
  const n = child === "aws1" ? 0 : 1;
  const before = (await (sim as VgwSim).sas())[n]?.child?.uniqueId;
  swanctl("--rekey", "--child", child);
  await waitFor(
    `${child} rekeyed`,
    async () => {
      const now = (await (sim as VgwSim).sas())[n]?.child;
      return now && now.uniqueId !== before;
    },
    10_000,
  );
}

t.test("AWS waits; both tunnels come up when the customer initiates", async (t) => {
  const s = sim as VgwSim;
  await new Promise((r) => setTimeout(r, 500));
  t.same(
    (await s.sas()).map((x) => x.ikeSas.length),
    [0, 0],
    "startup action add: AWS initiates nothing",
  );
  t.ok(initiate("aws1"), "tunnel 1 (IKEv2) established");
  t.ok(initiate("aws2"), "tunnel 2 (IKEv1 main mode) established");
  const [one, two] = await waitFor(
    "both children installed on AWS's side",
    async () => {
      const sas = await s.sas();
      return sas.every((x) => x.child) && sas;
    },
    5000,
  );
  t.match(one, { ike: { state: "ESTABLISHED", version: 2 }, child: { state: "INSTALLED" } });
  t.match(two, { ike: { state: "ESTABLISHED", version: 1 }, child: { state: "INSTALLED" } });
  t.ok(await waitFor("a ping from the LAN to the far host", lanToFar, 5000), "lan → far");
  t.ok(
    await ping(CGW_NS, "169.254.71.1", "169.254.71.2"),
    "AWS's inside address of tunnel 1 answers",
  );
  t.ok(await ping(CGW_NS, "169.254.71.5", "169.254.71.6"), "and of tunnel 2");
  t.ok(await ping(s.farHost.ns, LAN_HOST), "the far host reaches the LAN (a static route)");
});

t.test("blackhole silences a tunnel, heal brings it back", async (t) => {
  const s = sim as VgwSim;
  await rekey("aws1");
  const carried = (await s.sas())[0].child?.packetsIn ?? 0;
  t.ok(await lanToFar(), "tunnel 1, installed last, carries");
  t.ok(((await s.sas())[0].child?.packetsIn ?? 0) > carried, "AWS received it on tunnel 1");

  await s.blackhole(1);
  await s.blackhole(1);
  t.notOk(await lanToFar(), "no answer while tunnel 1's endpoint is dead");
  await s.heal(1);
  await s.heal(1);
  t.ok(
    await waitFor("the same SA to answer again", lanToFar, 5000),
    "healed: the same SA carries again",
  );

  await s.blackhole(1);
  t.notOk(await lanToFar(), "dead again");
  await rekey("aws2");
  t.ok(
    await waitFor("tunnel 2 to carry", lanToFar, 5000),
    "the customer steers to tunnel 2 by rekeying it",
  );
  await s.heal(1);
});

t.test("terminate deletes the tunnel on the customer's side too", async (t) => {
  const s = sim as VgwSim;
  t.equal(cgw.sas().get("aws1"), "ESTABLISHED");
  await s.terminate(1);
  await waitFor("the customer's aws1 IKE_SA gone", () => !cgw.sas().has("aws1"), 5000);
  t.notOk((await s.sas())[0].ike, "no IKE_SA left on AWS's side");
  await s.terminate(1);
  t.pass("terminating again is harmless");
  t.equal(cgw.sas().get("aws2"), "ESTABLISHED", "tunnel 2 untouched");
});

t.test("a wrong pre-shared key is refused", async (t) => {
  const WRONG = "Wrong.psk_0123456789abcdefgh";
  const wrong1 = await cgw.writeSwanctlConf([WRONG, PSK[1]], "w1.conf");
  swanctl("--load-creds", "--file", wrong1);
  t.notOk(initiate("aws1"), "IKEv2 with a wrong key does not come up");
  t.not(cgw.sas().get("aws1"), "ESTABLISHED", "no IKE_SA on the customer's side");
  t.match(await cgw.log(), /AUTHENTICATION_FAILED/, "AWS said why");

  swanctl("--terminate", "--ike", "aws2", "--timeout", "5");
  await waitFor("the customer's aws2 IKE_SA gone", () => !cgw.sas().has("aws2"), 5000);
  const wrong2 = await cgw.writeSwanctlConf([PSK[0], WRONG], "w2.conf");
  swanctl("--load-creds", "--file", wrong2);
  t.notOk(initiate("aws2"), "IKEv1 main mode with a wrong key does not come up");
  t.not(cgw.sas().get("aws2"), "ESTABLISHED", "no IKE_SA on the customer's side");
  t.same((await (sim as VgwSim).sas())[1].ike, undefined, "nor on AWS's side");

  swanctl("--load-creds", "--file", cgw.swanctlConf);
  t.ok(initiate("aws1"), "with the right keys tunnel 1 comes up");
  t.ok(initiate("aws2"), "and tunnel 2");
});

t.test("an algorithm outside the tunnel's set is refused", async (t) => {
  t.notOk(initiate("bad-ike1"), "tunnel 1 refuses DH group 15 (IKEv2)");
  t.notOk(initiate("bad-ike2"), "tunnel 2 refuses AES256/SHA2-256 (IKEv1)");
  const sas = cgw.sas();
  t.notOk(sas.get("bad-ike1") === "ESTABLISHED" || sas.get("bad-ike2") === "ESTABLISHED");
  t.match(await cgw.log(), /NO_PROPOSAL_CHOSEN/, "AWS chose no proposal");
});

t.test("stop removes the simulator's namespaces and links", async (t) => {
  await (sim as VgwSim).stop();
  await (sim as VgwSim).stop();
  const left = execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.startsWith(`${PREFIX}-aws`) || l.startsWith(`${PREFIX}-far`));
  t.same(left, [], "no namespace left");
  t.notMatch(nsExec(CGW_NS, "ip", ["-o", "link"]), /swpvgw1/, "the uplink's far end went with it");
});

/**
 * The customer's BGP, as an operator would write it for AWS: its ASN, AWS's inside addresses as
 * neighbors (sourced from ours, which are not on a connected /30 here: /32s on lo, AWS's routed
 * into the TUN device), announcing the LAN.
 */
const CUSTOMER_FRR_CONF = `frr defaults traditional
router bgp 65000
 bgp router-id 169.254.71.2
 no bgp ebgp-requires-policy
 neighbor 169.254.71.1 remote-as 64512
 neighbor 169.254.71.1 update-source 169.254.71.2
 neighbor 169.254.71.1 disable-connected-check
 neighbor 169.254.71.1 timers connect 2
 neighbor 169.254.71.5 remote-as 64512
 neighbor 169.254.71.5 update-source 169.254.71.6
 neighbor 169.254.71.5 disable-connected-check
 neighbor 169.254.71.5 timers connect 2
 address-family ipv4 unicast
  network 10.98.0.0/24
 exit-address-family
exit
`;

t.test(
  "BGP: AWS's side peers on both tunnels and routes what the customer announces",
  async (t) => {
    await sim?.stop();
    for (const ike of ["aws1", "aws2"])
      try {
        swanctl("--terminate", "--ike", ike, "--force");
      } catch {
        // not up
      }
    const s = await startVgwSim({
      prefix: PREFIX,
      connection: BGP_CONNECTION,
      uplink: { peerNs: CGW_NS, peerAddress: "198.18.71.1/24" },
      far: FAR,
    });
    sim = s;
    const tun = /^\d+:\s+(ipsec\d+)/m.exec(
      nsExec(CGW_NS, "ip", ["-o", "link", "show", "type", "tun"]),
    )?.[1];
    t.ok(tun, "the customer's TUN device");
    for (const aws of ["169.254.71.1", "169.254.71.5"])
      nsExec(CGW_NS, "ip", ["route", "replace", `${aws}/32`, "dev", tun as string]);
    customerFrr = await startFrr({ ns: CGW_NS, config: CUSTOMER_FRR_CONF });

    t.ok(initiate("aws1"), "tunnel 1 established");
    t.ok(initiate("aws2"), "tunnel 2 established");
    const up = Date.now();
    const established = (peers: Awaited<ReturnType<VgwSim["bgp"]>>) =>
      peers.every((p) => p.state === "Established");
    const peers = await waitFor(
      "both sessions Established",
      async () => {
        const p = await s.bgp();
        return established(p) && p;
      },
      20_000,
      200,
    );
    t.comment(`both BGP sessions Established ${Date.now() - up} ms after the tunnels`);
    t.match(peers, [
      { tunnel: 1, neighbor: "169.254.71.2", state: "Established" },
      { tunnel: 2, neighbor: "169.254.71.6", state: "Established" },
    ]);

    await waitFor(
      "the customer's LAN on AWS's side",
      async () => (await s.bgp()).every((p) => p.prefixesReceived === 1),
      10_000,
      200,
    );
    // bgpd counts the prefix a moment before zebra has installed it: wait for the route too.
    const lanRoute = /^10\.98\.0\.0\/24 .*via 169\.254\.71\.[26] dev ipsec0 /m;
    await waitFor(
      "AWS's route to the LAN",
      async () => lanRoute.test(await s.bgpRoutes()),
      5000,
      200,
    ).catch(() => undefined);
    t.match(
      await s.bgpRoutes(),
      lanRoute,
      "AWS learned the LAN: into the tunnel, next hop the customer's inside address",
    );
    const customerRoutes = () => nsExec(CGW_NS, "ip", ["route", "show", "proto", "bgp"]);
    await waitFor(
      "the far network on the customer's side",
      () => /^10\.99\.0\.0\/16 /m.test(customerRoutes()),
      10_000,
      200,
    );
    t.match(
      customerRoutes(),
      /^10\.99\.0\.0\/16 .*\s+(nexthop )?via 169\.254\.71\.[15] dev ipsec0 /m,
      "the customer learned the far network",
    );
    t.ok(
      await waitFor("a ping from the LAN to the far host", lanToFar, 5000),
      "lan → far, routed by BGP on AWS's side",
    );

    // Tunnel 1 ends on AWS's side: its session goes with it, tunnel 2's stays.
    const before = await s.sas();
    await s.terminate(1);
    const down = Date.now();
    let otherLeft = false;
    await waitFor(
      "tunnel 1's session to leave Established",
      async () => {
        const [one, two] = await s.bgp();
        if (two.state !== "Established") otherLeft = true;
        return one.state !== "Established";
      },
      (BGP_HOLD_S + 3) * 1000,
      200,
    );
    const took = Date.now() - down;
    t.comment(
      `tunnel 1's session left Established ${took} ms after the terminate (hold time ${BGP_HOLD_S} s)`,
    );
    t.ok(took <= BGP_HOLD_S * 1000 + 1500, `within the hold time (${took} ms)`);
    t.notOk(otherLeft, "tunnel 2's session stayed Established meanwhile");
    t.equal((await s.bgp())[1].state, "Established", "and still is");
    t.ok(before[0].child && !(await s.sas())[0].child, "tunnel 1 has no CHILD_SA on AWS's side");
    await waitFor(
      "AWS's route through tunnel 2",
      async () => /via 169\.254\.71\.6 dev ipsec0/.test(await s.bgpRoutes()),
      5000,
      200,
    );
    t.ok(await waitFor("a ping", lanToFar, 5000), "lan → far through tunnel 2");

    t.ok(initiate("aws1"), "the customer brings tunnel 1 back");
    const again = Date.now();
    await waitFor("tunnel 1's session back", async () => established(await s.bgp()), 20_000, 200);
    t.comment(`tunnel 1's session Established again ${Date.now() - again} ms after the tunnel`);

    // stop() leaves no FRR process, pid file or directory behind.
    const pids = execFileSync("ip", ["netns", "pids", `${PREFIX}-aws`], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean)
      .map(Number);
    const frrDirs = pids
      .map((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0"))
      .filter((argv) => /\/frr\//.test(argv[0] ?? ""))
      .map((argv) => argv[argv.indexOf("--vty_socket") + 1] as string);
    t.equal(frrDirs.length, 2, "zebra and bgpd ran in the simulator's namespace");
    await s.stop();
    const alive = pids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    t.same(alive, [], "no process of the simulator's namespace left");
    t.notOk(
      frrDirs.some((d) => existsSync(d)),
      "nor FRR's directory (pid files, sockets)",
    );
    t.notOk(
      execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).includes(`${PREFIX}-aws`),
      "nor the namespace",
    );
    await customerFrr?.stop();
  },
);
