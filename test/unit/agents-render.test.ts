import t, { type Test } from "tap";
import { parse, stringify } from "yaml";
import { loadConfigText } from "../../agent/src/config/load.ts";
import type { ConfigInput } from "../../common/agent-config/schema.ts";
import { formatLoadResult } from "../../common/yaml-config.ts";
import {
  type RenderedAgentConfig,
  renderAgentConfigs,
} from "../../control-plane/src/agents-config/render.ts";
import { connectionPairs } from "../../control-plane/src/fleet/connections.ts";
import { loadFleetText } from "../../control-plane/src/fleet/load.ts";
import type { Fleet } from "../../control-plane/src/fleet/types.ts";
import {
  GOLDEN_FLEETS,
  HUB,
  loadAgentFleet,
  SHARED_VPC,
  type Tree,
  TWO_VPC,
} from "../fixtures/agent-fleets.ts";
import { fleetTlsReader } from "../fixtures/invalid-fleets.ts";
import { pageExamples } from "../helpers/doc-examples.ts";
import { fakeSsm } from "../helpers/fake-ssm.ts";
import { matchesGolden } from "../helpers/golden.ts";
import { refusedWith } from "../helpers/refused.ts";

/**
 * `swanpair agents render`'s renderer: golden files, the mesh the controller expects, the
 * agent's own loader accepting every config, and the fleet fields it reads.
 */

type Tunnel = Extract<NonNullable<ConfigInput["tunnels"]>[number], { type: "peer" }>;

function render(fleet: Fleet, appliance?: string): RenderedAgentConfig[] {
  const r = renderAgentConfigs(fleet, appliance === undefined ? {} : { appliance });
  if (!r.ok) throw new Error(`render refused: ${JSON.stringify(r.issues)}`);
  return r.configs;
}

function byName(configs: RenderedAgentConfig[]): Map<string, ConfigInput> {
  return new Map(configs.map((c) => [c.appliance, c.config]));
}

/** The fleet renders peer tunnels only. */
function peers(config: ConfigInput | undefined): Tunnel[] {
  return (config?.tunnels ?? []).flatMap((x) => (x.type === "peer" ? [x] : []));
}

function tunnel(config: ConfigInput | undefined, name: string): Tunnel | undefined {
  return peers(config).find((x) => x.name === name);
}

t.test("golden files: a two-VPC fleet and a three-VPC hub fleet", async (t) => {
  for (const [name, text] of Object.entries(GOLDEN_FLEETS)) {
    const configs = render(await loadAgentFleet(text));
    for (const { appliance, yaml } of configs) {
      await matchesGolden(t, `agents/${name}/${appliance}.yaml`, yaml);
    }
    t.same(
      configs.map((c) => c.appliance),
      parse(text).appliances.map((a: Tree) => a.name),
      `${name}: one config per appliance, in the fleet's order`,
    );
  }
});

t.test("deterministic: the same fleet, loaded again, gives the same bytes", async (t) => {
  for (const text of [TWO_VPC, HUB, SHARED_VPC]) {
    const once = render(await loadAgentFleet(text));
    const again = render(await loadAgentFleet(text));
    t.same(
      again.map((c) => c.yaml),
      once.map((c) => c.yaml),
    );
    for (const c of once) {
      t.match(c.yaml, new RegExp(`^# swanpair-agent config of ${c.appliance}, rendered`));
      t.same(parse(c.yaml), c.config, `${c.appliance}: the YAML is the config`);
      t.notMatch(c.yaml, /[&*][a-z]\w*$/m, `${c.appliance}: no YAML anchors or aliases`);
    }
  }
});

t.test("every rendered config passes the agent's own loader, without warnings", async (t) => {
  for (const text of [TWO_VPC, HUB, SHARED_VPC]) {
    const fleet = await loadAgentFleet(text);
    for (const { appliance, yaml, config } of render(fleet)) {
      const ssm = fakeSsm();
      const loaded = await loadConfigText(yaml, fleetTlsReader, ssm.fetch);
      t.same(formatLoadResult(`${appliance}.yaml`, loaded), [], `${appliance}: loads cleanly`);
      if (!loaded.ok) continue;
      t.equal(loaded.config.tunnels.length, config.tunnels?.length, `${appliance}: every tunnel`);
      const names = peers(config).map((x) => x.psk.ssm);
      t.same(
        ssm.asked.flatMap((a) => a.names).sort(),
        [...names].sort(),
        `${appliance}: fetches exactly its tunnels' keys`,
      );
      for (const a of ssm.asked) {
        t.equal(a.region, fleet.region, "in the fleet's region");
        t.equal(a.endpoint, fleet.keys?.ssm.endpoint, "at the fleet's SSM endpoint");
      }
    }
  }
});

/** For every connection, every member of each pair meets every member of the other. */
function assertMesh(t: Test, fleet: Fleet, configs: Map<string, ConfigInput>) {
  const pairs = new Map(fleet.pairs.map((p) => [p.name, p]));
  const vpcCidrs = (appliance: string) => {
    const vpc = fleet.appliances.find((a) => a.name === appliance)?.vpc;
    return fleet.vpcs.find((v) => v.name === vpc)?.cidrs;
  };
  const expected = new Map<string, string[]>();
  for (const c of fleet.connections) {
    const [left, right] = connectionPairs(c).map((p) => pairs.get(p));
    if (!left || !right) throw new Error(`connection ${c.name}: unknown pair`);
    for (const [near, far] of [
      [left, right],
      [right, left],
    ] as const) {
      for (const x of near.members) {
        expected.set(x, [...(expected.get(x) ?? []), ...far.members]);
        for (const y of far.members) {
          const xy = tunnel(configs.get(x), y);
          const yx = tunnel(configs.get(y), x);
          if (!xy || !yx) {
            t.fail(`${c.name}: ${x} → ${y} and ${y} → ${x} both exist`);
            continue;
          }
          const xApp = configs.get(x)?.appliance;
          t.equal(
            xy.remoteAddress,
            configs.get(y)?.appliance.publicAddress,
            `${x}→${y} dials ${y}`,
          );
          t.equal(xy.localId, xApp?.publicAddress, `${x}→${y}: local id`);
          t.same([xy.localId, xy.remoteId], [yx.remoteId, yx.localId], `${x}⇄${y}: ids mirror`);
          t.same(xy.localSubnets, vpcCidrs(x), `${x}→${y}: local subnets are ${x}'s VPC`);
          t.same(xy.remoteSubnets, vpcCidrs(y), `${x}→${y}: remote subnets are ${y}'s VPC`);
          t.same(xy.localSubnets, yx.remoteSubnets, `${x}⇄${y}: subnets mirror`);
          t.equal(xy.psk.ssm, yx.psk.ssm, `${x}⇄${y}: one key parameter`);
          t.same(xy.probe, { source: yx.probe?.target, target: yx.probe?.source }, "probes mirror");
          t.equal(
            xy.probe?.source,
            xApp?.localAddress,
            `${x}→${y}: probes from its private address`,
          );
          // Of the tunnels to one far pair, the one to its preferred member carries.
          const rivals = peers(configs.get(x)).filter((o) => far.members.includes(o.name));
          const carrying = rivals.reduce((a, b) =>
            (a.priority ?? 0) <= (b.priority ?? 0) ? a : b,
          );
          t.equal(carrying.name, far.preferred, `${x}: the tunnel to ${far.preferred} carries`);
          t.equal(new Set(rivals.map((r) => r.priority)).size, 2, `${x}: distinct priorities`);
        }
      }
    }
  }
  for (const [name, config] of configs) {
    t.same(
      (config.tunnels ?? []).map((x) => x.name).sort(),
      (expected.get(name) ?? []).sort(),
      `${name}: no tunnel beyond the mesh`,
    );
  }
  t.equal(
    new Set([...configs.values()].flatMap((c) => peers(c).map((x) => x.psk.ssm))).size,
    [...expected.values()].flat().length / 2,
    "one key parameter per pair of appliances",
  );
}

t.test("mesh: every member pair has matching tunnels at both ends", async (t) => {
  for (const text of [TWO_VPC, HUB, SHARED_VPC]) {
    const fleet = await loadAgentFleet(text);
    assertMesh(t, fleet, byName(render(fleet)));
  }
});

t.test("a hub pair in two connections gets the tunnels and paths of both", async (t) => {
  const fleet = await loadAgentFleet(HUB, (f) => {
    f.appliances[0].address.pathSource = "10.10.0.21";
  });
  const configs = byName(render(fleet));
  t.same(
    configs.get("h1")?.tunnels?.map((x) => x.name),
    ["e1", "e2", "w1", "w2"],
  );
  t.same(configs.get("h1")?.paths, [
    { name: "hub-east", target: "10.20.0.11", source: "10.10.0.21" },
    { name: "west-hub", target: "10.30.0.11", source: "10.10.0.21" },
  ]);
  t.same(
    configs.get("e1")?.tunnels?.map((x) => x.name),
    ["h1", "h2"],
    "a spoke meshes with the hub only",
  );
  t.equal(configs.get("h2")?.paths, undefined, "no path source, no paths");
});

t.test("two pairs in one VPC each get their own tunnels", async (t) => {
  const configs = byName(render(await loadAgentFleet(SHARED_VPC)));
  t.same(
    configs.get("a1")?.tunnels?.map((x) => x.name),
    ["b1", "b2"],
  );
  t.same(
    configs.get("c2")?.tunnels?.map((x) => x.name),
    ["d1", "d2"],
  );
  t.same(tunnel(configs.get("c1"), "d1")?.localSubnets, ["10.1.0.0/16"]);
  t.same(
    configs.get("b1")?.tunnels?.map((x) => x.name),
    ["a1", "a2"],
  );
});

t.test("the appliance's own settings", async (t) => {
  const fleet = await loadAgentFleet(TWO_VPC);
  const configs = byName(render(fleet));
  const a1 = configs.get("a1");
  t.same(a1?.appliance, { name: "a1", localAddress: "10.1.1.10", publicAddress: "198.51.100.10" });
  t.same(a1?.api, { socket: "/run/swanpair/a1/agent.sock" }, "a unix agent's socket is its URL's");
  t.same(a1?.ssm, { region: "us-east-1", endpoint: "http://127.0.0.1:5000" });
  t.same(configs.get("b2")?.api, {
    socket: "/run/swanpair/agent.sock",
    listen: {
      address: "10.2.2.10",
      port: 8443,
      tls: {
        ca: "/etc/swanpair/tls/ca.pem",
        cert: "/etc/swanpair/tls/cert.pem",
        key: "/etc/swanpair/tls/key.pem",
      },
    },
  });
  t.equal(a1?.datapath, "kernel", "kernel by default");
  t.same(
    peers(a1).map((x) => [x.name, x.ifId]),
    [
      ["b1", 3],
      ["b2", 4],
    ],
    "an XFRM interface id per far appliance: its place in the fleet",
  );
  t.equal(
    tunnel(a1, "b1")?.psk.ssm,
    "/swanpair/prod-east/psk/a1/b1",
    "default prefix from the tag",
  );
  t.same(
    a1?.paths,
    [{ name: "a-b", target: "10.2.2.10", source: "10.1.1.11" }],
    "the path targets the far preferred member",
  );
  t.equal(configs.get("b1")?.paths, undefined);

  const shared = byName(render(await loadAgentFleet(SHARED_VPC)));
  t.equal(shared.get("a1")?.appliance.publicAddress, "10.1.0.11", "public defaults to private");
  t.equal(tunnel(shared.get("a1"), "b2")?.remoteAddress, "10.2.0.12");

  const hub = byName(render(await loadAgentFleet(HUB)));
  t.equal(hub.get("e2")?.stateDir, "/run/swanpair/e2", "{appliance} in a path");
  t.equal(tunnel(hub.get("e2"), "h1")?.ifId, undefined, "libipsec: no XFRM interfaces");
  t.equal(tunnel(hub.get("e2"), "h1")?.psk.ssm, "/lab/keys/psk/e2/h1");
  t.same(tunnel(hub.get("e2"), "h1")?.crypto, { preset: "aws-compatible" });

  const placeholders = await loadAgentFleet(TWO_VPC, (f) => {
    f.agents.api.socket = "/run/{appliance}/api.sock";
    f.agents.api.tls.cert = "/etc/swanpair/tls/{appliance}.pem";
  });
  const a2 = byName(render(placeholders, "a2")).get("a2");
  t.equal(a2?.api.socket, "/run/a2/api.sock");
  t.equal(a2?.api.listen?.tls.cert, "/etc/swanpair/tls/a2.pem");
  t.same(a1?.charon, { mode: "child" }, "no vici: the agent's default, under stateDir");

  // Packaged appliances: charon in its own unit, its socket where the unit puts it.
  const packaged = await loadAgentFleet(TWO_VPC, (f) => {
    f.agents.charon = { mode: "external", vici: "/run/swanpair-charon/{appliance}.vici" };
  });
  const b1 = byName(render(packaged, "b1")).get("b1");
  t.same(b1?.charon, { mode: "external", vici: "/run/swanpair-charon/b1.vici" });
  const loaded = await loadConfigText(stringify(b1), fleetTlsReader, fakeSsm().fetch);
  t.equal(
    loaded.ok && loaded.config.charon.vici,
    "/run/swanpair-charon/b1.vici",
    "the agent takes it",
  );
});

t.test("--appliance renders one config", async (t) => {
  const configs = render(await loadAgentFleet(HUB), "w2");
  t.same(
    configs.map((c) => c.appliance),
    ["w2"],
  );
  t.same(
    configs[0]?.config.tunnels?.map((x) => x.name),
    ["h1", "h2"],
  );
});

/** The render's issues, as `path [rule]`. */
async function renderIssues(text: string, change: (f: Tree) => void, appliance?: string) {
  const fleet = await loadAgentFleet(text, change);
  const r = renderAgentConfigs(fleet, appliance === undefined ? {} : { appliance });
  if (r.ok) return [];
  return r.issues.map((i) => `${i.path} [${i.rule}]`);
}

t.test("missing facts: the fleet still loads, rendering names each field", async (t) => {
  const bare = (f: Tree) => {
    for (const a of f.appliances) delete a.address;
    delete f.agents;
  };
  t.same(await renderIssues(TWO_VPC, bare), [
    "appliances[0].address [required]",
    "appliances[1].address [required]",
    "appliances[2].address [required]",
    "appliances[3].address [required]",
    "agents.api.tls [required]",
  ]);
  const one = renderAgentConfigs(await loadAgentFleet(TWO_VPC, bare), { appliance: "b1" });
  t.same(
    one.ok ? [] : one.issues.map((i) => i.path),
    ["appliances[0].address", "appliances[1].address", "appliances[2].address"],
    "b1 and its far ends; not b2, and no TLS for a unix agent",
  );
  t.match(
    one.ok ? "" : one.issues[0]?.message,
    /^is required to render the agent config of b1: give its private address/,
  );
  t.same(
    await renderIssues(HUB, (f) => {
      f.tag.value = "lab east";
      delete f.keys;
    }),
    ["keys.ssm.prefix [required]"],
    "a tag value that makes no parameter path",
  );
  t.same(
    await renderIssues(HUB, (f) => {
      f.agents.stateDir = `/run/${"x".repeat(90)}/{appliance}`;
    }),
    ["agents.stateDir [path-length]"],
    "a socket too long once {appliance} is filled in",
  );
  t.same(
    await renderIssues(HUB, (f) => {
      f.agents.stateDir = `/run/${"x".repeat(90)}/{appliance}`;
      f.agents.charon = { mode: "external", vici: `/run/${"v".repeat(100)}/{appliance}.vici` };
    }),
    ["agents.charon.vici [path-length]"],
    "with charon.vici, that is charon's socket, not one under stateDir",
  );
});

/** The fleet loader's view of TWO_VPC after `change`. */
function loadChanged(change: (f: Tree) => void) {
  const tree = parse(TWO_VPC);
  change(tree);
  return loadFleetText(JSON.stringify(tree), fleetTlsReader);
}

t.test("fleet rules for the new fields, with their paths", async (t) => {
  const cases: Array<[string, (f: Tree) => void, string, string]> = [
    [
      "a private address outside the VPC",
      (f) => (f.appliances[1].address.private = "10.9.0.1"),
      "appliances[1].address.private",
      "address",
    ],
    [
      "a path source outside the VPC",
      (f) => (f.appliances[0].address.pathSource = "10.2.9.9"),
      "appliances[0].address.pathSource",
      "address",
    ],
    [
      "a path source that is the private address",
      (f) => (f.appliances[0].address.pathSource = "10.1.1.10"),
      "appliances[0].address.pathSource",
      "address",
    ],
    [
      "two appliances with one public address",
      (f) => (f.appliances[3].address.public = "198.51.100.10"),
      "appliances[3].address.public",
      "duplicate",
    ],
    [
      "a public address that is another appliance's private one",
      (f) => (f.appliances[2].address.public = "10.1.2.10"),
      "appliances[2].address.public",
      "duplicate",
    ],
    [
      "a private address that is an earlier appliance's public one",
      (f) => (f.appliances[0].address = { private: "10.1.1.10", public: "10.2.1.10" }),
      "appliances[2].address.private",
      "duplicate",
    ],
    [
      "public and private of two families",
      (f) => (f.appliances[0].address.public = "2001:db8::10"),
      "appliances[0].address.public",
      "family",
    ],
    [
      "a connection between two families",
      (f) => {
        f.vpcs[1].cidrs.push("fd00:2::/64");
        f.appliances[2].address = { private: "fd00:2::10" };
      },
      "connections[0]",
      "family",
    ],
    [
      "a misspelt agents key",
      (f) => (f.agents.datpath = "kernel"),
      "agents.datpath",
      "unknown-key",
    ],
    ["an unknown datapath", (f) => (f.agents.datapath = "xfrm"), "agents.datapath", "enum"],
    [
      "an SSM prefix AWS reserves",
      (f) => (f.keys.ssm.prefix = "/aws/keys"),
      "keys.ssm.prefix",
      "format",
    ],
    [
      "an SSM prefix with a space",
      (f) => (f.keys.ssm.prefix = "/swan pair"),
      "keys.ssm.prefix",
      "format",
    ],
    ["a relative TLS path", (f) => (f.agents.api.tls.ca = "ca.pem"), "agents.api.tls.ca", "format"],
    [
      "a bad address",
      (f) => (f.appliances[0].address.public = "198.51.100"),
      "appliances[0].address.public",
      "format",
    ],
  ];
  for (const [what, change, path, rule] of cases) {
    t.test(what, async (t) => {
      refusedWith(t, await loadChanged(change), { expectPath: path, expectRule: rule });
    });
  }

  const warned = await loadChanged((f) => (f.appliances[1].agent = "https://10.1.9.9:7443"));
  t.same(
    warned.warnings.map((w) => `${w.path} [${w.rule}]`),
    ["appliances[1].agent [agent-address]"],
    "an https agent at an address that is not the appliance's",
  );
  const bare = await loadChanged((f) => {
    for (const a of f.appliances) delete a.address;
    delete f.agents;
    delete f.keys;
  });
  t.ok(bare.ok, "without them, the fleet still serves the controller");
  if (bare.ok) t.notOk("agents" in bare.fleet || "keys" in bare.fleet, "and resolves without them");
});

t.test("the documented example renders, and the agents accept it", async (t) => {
  const examples = await pageExamples("fleet-config.md");
  const example = examples.find((e) => e.kind === "fleet" && !e.fragment && /agents:/.test(e.yaml));
  if (!example) return t.fail("docs/fleet-config.md has a whole fleet example with agents:");
  const fleet = await loadAgentFleet(example.yaml);
  const configs = render(fleet);
  t.ok(configs.length > 0);
  assertMesh(t, fleet, byName(configs));
  for (const { appliance, yaml } of configs) {
    const loaded = await loadConfigText(yaml, fleetTlsReader, fakeSsm().fetch);
    t.same(formatLoadResult(appliance, loaded), [], `${appliance} loads`);
  }
});
