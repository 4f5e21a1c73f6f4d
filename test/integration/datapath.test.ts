import t from "tap";
import type { ResolvedConfig } from "../../agent/src/config/types.ts";
import { applyDatapath, type IpRunner } from "../../agent/src/datapath/apply.ts";
import { type Datapath, desiredDatapath } from "../../agent/src/datapath/plan.ts";
import { resolvedAwsTunnel } from "../fixtures/aws-tunnels.ts";
import { createNetns, deleteNetns, nsExec } from "../helpers/netns.ts";

/**
 * The libipsec datapath of an aws-vpn entry, applied with the real `ip` in a namespace: a
 * 0.0.0.0/0 route into the TUN device in table 220 (as charon installs it for 0/0 selectors)
 * must not capture the appliance's own traffic, only the VPN's prefixes (decision 0023).
 * ipsec0 is a bare TUN device here: routing decisions are what is tested, not ESP.
 */

const NS = "swp-datapath";
const LOCAL = "10.0.0.5";

function config(remotePrefixes: string[]): ResolvedConfig {
  return {
    appliance: { name: "a1", localAddress: LOCAL },
    datapath: "libipsec",
    charon: {
      mode: "child",
      vici: "/run/x.vici",
      binary: "/usr/sbin/charon-systemd",
      pluginDir: "/usr/lib/ipsec/plugins",
      startTimeoutMs: 1000,
    },
    stateDir: "/run/x",
    api: { socket: "/run/x.sock" },
    log: { level: "info" },
    tunnels: [1, 2].map((index) =>
      resolvedAwsTunnel({ index: index as 1 | 2, net: 10 + index, remotePrefixes }),
    ),
    paths: [],
  };
}

const ip: IpRunner = async (args) => nsExec(NS, "ip", args);
const sh = (...args: string[]) => nsExec(NS, "ip", args);
/** The device a packet from this host to `dst` leaves by. */
const devFor = (dst: string) => /dev (\S+)/.exec(sh("route", "get", dst))?.[1];
const apply = (d: Datapath) => applyDatapath(d, LOCAL, ip);

t.before(() => {
  createNetns(NS);
  // No dummy module here: a veth pair stands for the uplink, a TUN device for ipsec0.
  sh("link", "add", "eth0", "type", "veth", "peer", "name", "eth0-far");
  sh("link", "set", "eth0-far", "up");
  sh("address", "add", `${LOCAL}/24`, "dev", "eth0");
  sh("link", "set", "eth0", "up");
  sh("route", "add", "default", "via", "10.0.0.1", "dev", "eth0");
});
t.teardown(() => deleteNetns(NS));

t.test("before charon: the throw routes go in, ipsec0's parts wait for it", async (t) => {
  const failures = await apply(desiredDatapath(config(["10.99.0.0/16"])));
  t.ok(failures.length > 0 && failures.every((f) => /ipsec0/.test(f)), "only ipsec0's parts fail");
  t.match(
    sh("route", "show", "table", "220"),
    /throw 0\.0\.0\.0\/1[^\n]*\n[\s\S]*throw 128\.0\.0\.0\/1/,
  );
});

t.test("0/0 into ipsec0 in table 220 captures only the VPN's prefixes", async (t) => {
  // What charon (kernel-libipsec) sets up for a 0.0.0.0/0 CHILD_SA.
  sh("tuntap", "add", "dev", "ipsec0", "mode", "tun");
  sh("link", "set", "ipsec0", "up");
  sh("route", "add", "0.0.0.0/0", "dev", "ipsec0", "table", "220");
  sh("route", "add", "198.51.100.11/32", "via", "10.0.0.1", "dev", "eth0", "table", "220");
  sh("rule", "add", "pref", "220", "lookup", "220");
  t.equal(devFor("10.99.1.1"), "eth0", "without the agent: no route for the prefix yet");
  sh("route", "del", "throw", "0.0.0.0/1", "table", "220");
  t.equal(devFor("8.8.8.8"), "ipsec0", "with half the throws gone, 0/0 captures the host");

  t.same(await apply(desiredDatapath(config(["10.99.0.0/16"]))), [], "everything applies");
  t.equal(devFor("10.99.1.1"), "ipsec0", "the VPN's prefix goes into the tunnel");
  t.match(sh("route", "get", "10.99.1.1"), /src 10\.0\.0\.5/, "from the appliance's address");
  t.equal(devFor("8.8.8.8"), "eth0", "the internet (IKE, AWS APIs, updates) does not");
  t.equal(devFor("200.1.2.3"), "eth0", "nor the upper half of the address space");
  t.equal(devFor("10.0.0.9"), "eth0", "nor the VPC");
  t.equal(devFor("198.51.100.11"), "eth0", "charon's exclude route for the peer still works");
  t.equal(devFor("169.254.12.1"), "ipsec0", "AWS's inside addresses are over the tunnel");
  t.match(sh("address", "show", "dev", "ipsec0"), /169\.254\.11\.2\/30[\s\S]*169\.254\.12\.2\/30/);

  t.same(await apply(desiredDatapath(config(["10.99.0.0/16"]))), [], "again: idempotent");
  t.same(await apply(desiredDatapath(config(["10.98.0.0/16"]))), [], "a prefix replaced");
  t.equal(devFor("10.99.1.1"), "eth0", "the old prefix's route is removed");
  t.equal(devFor("10.98.1.1"), "ipsec0");
  t.same(await apply({ links: [], addresses: [], routes: [] }), [], "nothing wanted");
  t.equal(
    sh("route", "show", "table", "all", "proto", "250").trim(),
    "",
    "every route the agent made is gone, and no other",
  );
  t.match(sh("route", "show", "table", "220"), /198\.51\.100\.11/, "charon's routes stay");
});
