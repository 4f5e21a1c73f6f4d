import t from "tap";
import { stringify } from "yaml";
import { formatLoadResult } from "../../agent/src/config/format-issues.ts";
import { type FileReader, loadConfigText } from "../../agent/src/config/load.ts";
import type { LoadResult } from "../../agent/src/config/types.ts";
import { Secret } from "../../common/secret.ts";
import { baseTree, GOOD_PSK } from "../fixtures/invalid-configs.ts";

/** `paths`: defaults, names, and the rules that keep a path probe pointed at the far VPC. */

const psk: FileReader = async () => ({
  exists: true,
  mode: 0o100600,
  content: new Secret(`${GOOD_PSK}\n`),
});

/** Appliance a1 in 10.1.0.0/16 (and a v6 block) with one tunnel "to-b1" to 10.2.0.0/16, plus `paths`. */
function load(paths: unknown, extra: Record<string, unknown> = {}) {
  const tree = baseTree();
  tree.appliance = { name: "a1", localAddress: "10.1.0.5", publicAddress: "203.0.113.9" };
  tree.tunnels[0].psk = { file: "/etc/swanpair/psk/to-b1" };
  tree.tunnels[0].localSubnets.push("2001:db8:1::/48");
  tree.tunnels[0].remoteSubnets.push("2001:db8:2::/48");
  return loadConfigText(
    stringify({ ...tree, ...(paths !== undefined && { paths }), ...extra }),
    psk,
  );
}

function mustLoad(r: LoadResult) {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.issues)}`);
  return r;
}

const issuesOf = (r: LoadResult) => (r.ok ? [] : r.issues);

t.test("without paths the config has none", async (t) => {
  t.same(mustLoad(await load(undefined)).config.paths, []);
});

t.test("a path gets the probe defaults, and no source unless given", async (t) => {
  const { config, warnings } = mustLoad(
    await load([
      { name: "ab", target: "10.2.0.20" },
      { name: "ab-fast", target: "10.2.0.21", source: "10.1.0.6", intervalMs: 200, fall: 5 },
      { name: "ab-v6", target: "2001:db8:2::20", intervalMs: 5000, timeoutMs: 2500, port: 7300 },
    ]),
  );
  t.same(warnings, []);
  t.same(config.paths, [
    {
      name: "ab",
      method: "udp",
      target: "10.2.0.20",
      port: 7208,
      intervalMs: 1000,
      timeoutMs: 1000,
      fall: 3,
      rise: 2,
    },
    {
      name: "ab-fast",
      method: "udp",
      target: "10.2.0.21",
      source: "10.1.0.6",
      port: 7208,
      intervalMs: 200,
      timeoutMs: 200,
      fall: 5,
      rise: 2,
    },
    {
      name: "ab-v6",
      method: "udp",
      target: "2001:db8:2::20",
      port: 7300,
      intervalMs: 5000,
      timeoutMs: 2500,
      fall: 3,
      rise: 2,
    },
  ]);
  t.notOk("source" in (config.paths[0] ?? {}), "no source key: the kernel picks the address");
});

t.test("an icmp path has no port or timeout, and keeps its source", async (t) => {
  const { config, warnings } = mustLoad(
    await load([
      { name: "vgw", method: "icmp", target: "10.2.0.20", source: "10.1.0.6", intervalMs: 200 },
      { name: "vgw-v6", method: "icmp", target: "2001:db8:2::20" },
    ]),
  );
  t.same(warnings, []);
  t.strictSame(config.paths, [
    {
      name: "vgw",
      method: "icmp",
      target: "10.2.0.20",
      source: "10.1.0.6",
      intervalMs: 200,
      fall: 3,
      rise: 2,
    },
    {
      name: "vgw-v6",
      method: "icmp",
      target: "2001:db8:2::20",
      intervalMs: 1000,
      fall: 3,
      rise: 2,
    },
  ]);
});

t.test("an icmp path refuses port and timeoutMs, at their fields", async (t) => {
  const r = await load([
    { name: "a", method: "icmp", target: "10.2.0.20", port: 7208 },
    { name: "b", method: "icmp", target: "10.2.0.21", timeoutMs: 500 },
    { name: "c", method: "udp", target: "10.2.0.22", port: 7300, timeoutMs: 500 },
  ]);
  t.match(formatLoadResult("a1.yaml", r), [
    /^a1\.yaml: paths\[0\]\.port: is not used with method icmp: an ICMP echo has no port; remove it, or use method udp \[path-method\]$/,
    /^a1\.yaml: paths\[1\]\.timeoutMs: is not used with method icmp: ping waits intervalMs for each echo; remove it, or use method udp \[path-method\]$/,
  ]);
  t.same(
    issuesOf(r).map((i) => `${i.path} [${i.rule}]`),
    ["paths[0].port [path-method]", "paths[1].timeoutMs [path-method]"],
    "written the same, a udp path is fine",
  );
});

t.test("an icmp path's target is checked as a udp path's", async (t) => {
  const issues = issuesOf(
    await load([
      { name: "a", method: "icmp", target: "10.1.2.3" },
      { name: "b", method: "icmp", target: "10.1.0.5" },
      { name: "c", method: "icmp", target: "2001:db8:2::1", source: "10.1.0.6" },
    ]),
  );
  t.same(
    issues.map((i) => `${i.path} [${i.rule}]`),
    ["paths[0].target [path-target]", "paths[1].target [self-address]", "paths[2].source [family]"],
  );
});

t.test("an unknown method is a shape error", async (t) => {
  t.match(issuesOf(await load([{ name: "a", method: "tcp", target: "10.2.0.20" }])), [
    { path: "paths[0].method", rule: "enum" },
  ]);
});

t.test("paths and tunnels are separate name spaces", async (t) => {
  // The convention: a path is named after the fleet connection, whatever the tunnels are called.
  const { config } = mustLoad(await load([{ name: "to-b1", target: "10.2.0.20" }]));
  t.equal(config.paths[0]?.name, "to-b1", "a path may share a tunnel's name");
});

t.test("each broken path is reported at its own field", async (t) => {
  const issues = issuesOf(
    await load([
      { name: "ab", target: "10.2.0.20" },
      { name: "cd", target: "10.1.2.3" },
      { name: "ab", target: "203.0.113.9" },
      { name: "ef", target: "10.2.0.22", source: "10.2.0.22" },
      { name: "gh", target: "2001:db8:2::1", source: "10.1.0.6", intervalMs: 100, timeoutMs: 200 },
    ]),
  );
  t.same(
    issues.map((i) => `${i.path} [${i.rule}]`),
    [
      "paths[1].target [path-target]",
      "paths[2].target [self-address]",
      "paths[3].target [self-address]",
      "paths[4].source [family]",
      "paths[4].timeoutMs [probe-timeout]",
      "paths[2].name [duplicate]",
    ],
  );
  const message = (path: string) => issues.find((i) => i.path === path)?.message;
  t.equal(
    message("paths[1].target"),
    "10.1.2.3 is inside tunnels[0].localSubnets[0] 10.1.0.0/16, this side of the tunnel; a path probe must target the far VPC",
  );
  t.match(
    message("paths[2].target"),
    /203\.0\.113\.9 is this appliance's own address \(appliance\.publicAddress\)/,
  );
  t.match(message("paths[3].target"), /\(paths\[3\]\.source\)/, "a target equal to its own source");
  t.equal(message("paths[2].name"), '"ab" is already used by paths[0]');
  t.equal(message("paths[4].source"), "10.1.0.6 is IPv4 but target 2001:db8:2::1 is IPv6");
});

t.test("a tunnel's probe source is ours too", async (t) => {
  const r = await load([{ name: "ab", target: "10.1.0.10" }]);
  t.match(formatLoadResult("a1.yaml", r), [
    /^a1\.yaml: paths\[0\]\.target: 10\.1\.0\.10 is this appliance's own address \(tunnels\[0\]\.probe\.source\); a path probe must reach the far VPC \[self-address\]$/,
  ]);
});

t.test("a bad path refuses the whole config", async (t) => {
  const r = await load([{ name: "ab", target: "10.2.0.20", intervalMs: 100, timeoutMs: 150 }]);
  t.equal(r.ok, false, "no config with the tunnel alone");
});
