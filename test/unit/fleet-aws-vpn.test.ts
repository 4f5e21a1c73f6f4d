import { readFile } from "node:fs/promises";
import t from "tap";
import { stringify } from "yaml";
import { fromXml } from "../../common/aws-vpn/from-xml.ts";
import type { AwsVpnConnection } from "../../common/aws-vpn/model.ts";
import { AWS_IF_ID_BASE } from "../../control-plane/src/agents-config/aws-vpn.ts";
import { renderAgentConfigs } from "../../control-plane/src/agents-config/render.ts";
import { toObservation } from "../../control-plane/src/controller/observation.ts";
import { sidesOf } from "../../control-plane/src/decide/sides.ts";
import { loadFleetText } from "../../control-plane/src/fleet/load.ts";
import { managedRoutes } from "../../control-plane/src/fleet/routes.ts";
import type { Fleet } from "../../control-plane/src/fleet/types.ts";
import { agentStatus, tunnelStatus } from "../fixtures/agent-status.ts";
import { awsVpn, fleetTlsReader, fleetTree } from "../fixtures/invalid-fleets.ts";

/**
 * The fleet's aws-vpn connection kind: a pair in front of an AWS managed VPN, one VPN
 * connection per member. What it routes, how the controller reads its members' tunnels, and
 * the agent configs rendered for it. The refusals are in the invalid-fleets table.
 */

async function fleetWith(change: (tree: ReturnType<typeof fleetTree>) => void): Promise<Fleet> {
  const tree = fleetTree();
  tree.connections.push(awsVpn());
  change(tree);
  const r = await loadFleetText(stringify(tree), fleetTlsReader);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.fleet;
}

const fleet = await fleetWith(() => {});

t.test("loads beside a site-to-site connection, resolved in the pair's member order", async (t) => {
  t.same(fleet.connections[1], awsVpn(), "as written: already canonical, in member order");
  const flipped = await fleetWith((f) => {
    f.connections[1].vpnConnections = { a2: "vpn-0a2", a1: "vpn-0a1" };
    f.connections[1].remoteCidrs = ["10.99.0.0/16"];
  });
  const link = flipped.connections[1];
  t.same(link?.kind === "aws-vpn" && Object.keys(link.vpnConnections), ["a1", "a2"]);
});

t.test("one side: the pair's VPC tables route the networks behind AWS", async (t) => {
  const routes = managedRoutes(fleet).filter((r) => r.connection === "a-aws");
  t.same(
    routes.map((r) => [r.pair, r.routeTable, r.destination]),
    [
      ["pair-a", "rtb-0a1", "10.99.0.0/16"],
      ["pair-a", "rtb-0a2", "10.99.0.0/16"],
    ],
  );
  const sides = sidesOf(fleet).filter((s) => s.connection === "a-aws");
  t.same(
    sides.map((s) => [s.key, s.members, s.preferred]),
    [["a-aws/pair-a", ["a1", "a2"], "a1"]],
  );
  t.same(
    sidesOf(fleet).map((s) => s.key),
    ["a-b/pair-a", "a-b/pair-b", "a-aws/pair-a"],
    "the site-to-site sides are unchanged",
  );
});

t.test("a member's tunnel state is the best of its VPN connection's two tunnels", async (t) => {
  const sides = sidesOf(fleet);
  const observe = (a1Tunnels: Array<[string, "up" | "down" | "connecting"]>) =>
    toObservation(fleet, sides, {
      now: 0,
      tables: undefined,
      instances: new Map(),
      agents: {
        a1: agentStatus(a1Tunnels.map(([name, state]) => tunnelStatus(name, { state }))),
      },
    }).members.a1?.tunnels["a-aws"];
  t.equal(
    observe([
      ["a-aws-t1", "down"],
      ["a-aws-t2", "up"],
    ]),
    "up",
    "one up is enough",
  );
  t.equal(
    observe([
      ["a-aws-t1", "down"],
      ["a-aws-t2", "connecting"],
    ]),
    "down",
  );
  t.equal(observe([["b1", "up"]]), "unknown", "no tunnel of the entry reported");
  t.equal(
    observe([["a-aws-t1", "up"]]) && observe([["other-t1", "up"]]),
    "unknown",
    "another entry's tunnels do not count",
  );
});

const xml = await readFile(new URL("../fixtures/aws-vpn/vpn-bgp.xml", import.meta.url), "utf8");
const parsed = fromXml(xml);
if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
/** The fixture's VPN connection, as a static one of `id` from the customer gateway `cgw`. */
function vpn(id: string, cgw: string): AwsVpnConnection {
  const c = parsed.ok ? parsed.connection : (undefined as never);
  return {
    ...c,
    vpnConnectionId: id,
    routing: "static",
    staticRoutes: ["10.1.0.0/16"],
    tunnels: c.tunnels.map((x) => {
      const { bgp: _, ...rest } = x;
      return { ...rest, outside: { ...x.outside, customerGateway: cgw } };
    }) as AwsVpnConnection["tunnels"],
  };
}

const rendering = await fleetWith((f) => {
  f.appliances[0].address = {
    private: "10.1.1.10",
    public: "198.51.100.10",
    pathSource: "10.1.1.11",
  };
  f.appliances[1].address = {
    private: "10.1.2.10",
    public: "198.51.100.20",
    pathSource: "10.1.2.11",
  };
  f.appliances[1].agent = "unix:///run/swanpair/a2/agent.sock";
  f.appliances[2].address = { private: "10.2.1.10" };
  f.appliances[3].address = { private: "10.2.2.10" };
  f.appliances[3].agent = "unix:///run/swanpair/b2/agent.sock";
  f.agents = {
    datapath: "libipsec",
    awsVpn: { pskDir: "/etc/swanpair/{appliance}/aws" },
    probe: { intervalMs: 200, fall: 2 },
  };
});
const vpns = new Map([
  ["vpn-0a1", vpn("vpn-0a1", "198.51.100.10")],
  ["vpn-0a2", vpn("vpn-0a2", "198.51.100.20")],
]);

t.test("each member's config holds its own VPN connection and an ICMP path", async (t) => {
  const r = renderAgentConfigs(rendering, { vpns });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  for (const [member, id, source] of [
    ["a1", "vpn-0a1", "10.1.1.11"],
    ["a2", "vpn-0a2", "10.1.2.11"],
  ] as const) {
    const config = r.configs.find((c) => c.appliance === member)?.config;
    const entries = (config?.tunnels ?? []).filter((x) => x.type === "aws-vpn");
    t.equal(entries.length, 1, `${member}: one aws-vpn entry`);
    t.match(entries[0], {
      name: "a-aws",
      vpnConnectionId: id,
      routing: "static",
      remotePrefixes: ["10.99.0.0/16"],
      staticRoutes: ["10.1.0.0/16"],
      probe: { intervalMs: 200, fall: 2 },
      tunnels: [
        { psk: { file: `/etc/swanpair/${member}/aws/${id}-tunnel1.psk` } },
        { psk: { file: `/etc/swanpair/${member}/aws/${id}-tunnel2.psk` } },
      ],
    });
    t.notOk(entries[0]?.tunnels[0] && "ifId" in entries[0].tunnels[0], "no if_id under libipsec");
    t.same(
      config?.paths?.find((p) => p.name === "a-aws"),
      { name: "a-aws", method: "icmp", target: "10.99.0.10", source, intervalMs: 200, fall: 2 },
    );
    t.ok(
      config?.tunnels?.some((x) => x.type === "peer" && x.name === "b1"),
      `${member} keeps its site-to-site mesh`,
    );
  }
  const b1 = r.configs.find((c) => c.appliance === "b1")?.config;
  t.notOk(
    b1?.tunnels?.some((x) => x.type === "aws-vpn"),
    "the far pair has none",
  );
});

t.test("kernel datapath: each aws-vpn tunnel gets an if_id above the appliances'", async (t) => {
  const kernel = { ...rendering, agents: { ...rendering.agents, datapath: "kernel" } } as Fleet;
  const r = renderAgentConfigs(kernel, { appliance: "a2", vpns });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  const entry = r.configs[0]?.config.tunnels?.find((x) => x.type === "aws-vpn");
  t.same(
    entry?.type === "aws-vpn" && entry.tunnels.map((x) => x.ifId),
    [AWS_IF_ID_BASE + 3, AWS_IF_ID_BASE + 4],
    "connection index 1: 2*1+1, 2*1+2",
  );
});

t.test("a VPN connection not read, or from another customer gateway, is an issue", async (t) => {
  const missing = renderAgentConfigs(rendering, { vpns: new Map([...vpns].slice(0, 1)) });
  t.match(missing, {
    ok: false,
    issues: [{ path: "connections[1].vpnConnections.a2", rule: "vpn-connection" }],
  });
  const swapped = renderAgentConfigs(rendering, {
    appliance: "a1",
    vpns: new Map([["vpn-0a1", vpn("vpn-0a1", "198.51.100.20")]]),
  });
  t.match(swapped, {
    ok: false,
    issues: [
      {
        path: "connections[1].vpnConnections.a1",
        rule: "vpn-connection",
        message: /customer gateway is 198\.51\.100\.20, not a1's public address 198\.51\.100\.10/,
      },
    ],
  });
});
