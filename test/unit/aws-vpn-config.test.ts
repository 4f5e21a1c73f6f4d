import t from "tap";
import { stringify } from "yaml";
import { type FileReader, loadConfigText } from "../../agent/src/config/load.ts";
import type { LoadResult, ResolvedConfig } from "../../agent/src/config/types.ts";
import { desiredDatapath, ipCommands } from "../../agent/src/datapath/plan.ts";
import { Secret } from "../../common/secret.ts";

/**
 * `type: aws-vpn` entries in the agent's config: what verify makes of them (two tunnels), the
 * rules that need the rest of the config, and the links, addresses and routes they need.
 */

/** Passes AWS's key rule and the agent's (a peer shares the reader in some cases). */
const AWS_KEY = "Aws.key_0123456789";

const reader =
  (content = `${AWS_KEY}\n`, mode = 0o100600): FileReader =>
  async () => ({ exists: true, mode, content: new Secret(content) });

const phase = (lifetimeS: number) => ({
  encryption: ["AES128", "AES256"],
  integrity: ["SHA1", "SHA2-256"],
  dhGroups: [2, 14],
  lifetimeS,
});

function awsTunnel(n: 1 | 2, over: Record<string, unknown> = {}) {
  return {
    outside: { local: "203.0.113.5", remote: `198.51.100.${10 + n}` },
    inside: {
      cidr: `169.254.${10 + n}.0/30`,
      local: `169.254.${10 + n}.2`,
      remote: `169.254.${10 + n}.1`,
    },
    psk: { file: `/etc/swanpair/psk/vpn-t${n}` },
    ikeVersions: ["ikev1"],
    phase1: phase(28800),
    phase2: phase(3600),
    dpd: { delayS: 10, timeoutS: 30 },
    ...over,
  };
}

/** Tunnel n of a second VPN connection: its own endpoint and /30 (169.254.2n.0/30). */
function otherTunnel(n: 1 | 2, over: Record<string, unknown> = {}) {
  const net = 20 + n;
  return awsTunnel(n, {
    inside: { cidr: `169.254.${net}.0/30`, local: `169.254.${net}.2`, remote: `169.254.${net}.1` },
    outside: { local: "203.0.113.5", remote: `198.51.100.${net}` },
    ...over,
  });
}

const bgpOf = (localAsn = 65000) => ({ bgp: { localAsn, remoteAsn: 64512, holdTimeS: 30 } });
const bgpTunnel = (n: 1 | 2) => awsTunnel(n, bgpOf());

function entry(over: Record<string, unknown> = {}) {
  return {
    name: "to-aws",
    type: "aws-vpn",
    vpnConnectionId: "vpn-0123456789abcdef0",
    routing: "static",
    remotePrefixes: ["10.99.0.0/16"],
    tunnels: [awsTunnel(1), awsTunnel(2)],
    ...over,
  };
}

function config(tunnels: unknown[], extra: Record<string, unknown> = {}) {
  return stringify({
    appliance: { name: "a1", localAddress: "10.0.0.5", publicAddress: "203.0.113.5" },
    stateDir: "/run/swanpair/a1",
    api: { socket: "/run/swanpair/a1/agent.sock" },
    tunnels,
    ...extra,
  });
}

const load = (tunnels: unknown[], extra: Record<string, unknown> = {}, read = reader()) =>
  loadConfigText(config(tunnels, extra), read);

function mustLoad(r: LoadResult): ResolvedConfig {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.issues)}`);
  return r.config;
}

const issues = (r: LoadResult) => (r.ok ? [] : r.issues.map((i) => `${i.path} ${i.rule}`));

t.test("an aws-vpn entry becomes its two tunnels", async (t) => {
  const c = mustLoad(await load([entry()]));
  t.same(
    c.tunnels.map((x) => x.name),
    ["to-aws-t1", "to-aws-t2"],
  );
  const [t1, t2] = c.tunnels;
  t.match(t1, {
    type: "aws-vpn",
    remoteAddress: "198.51.100.11",
    localId: "203.0.113.5",
    remoteId: "198.51.100.11",
    localSubnets: ["0.0.0.0/0"],
    remoteSubnets: ["0.0.0.0/0"],
    startAction: "start",
    dpdDelayS: 10,
    aws: {
      entry: "to-aws",
      index: 1,
      ikeVersion: 1,
      inside: { cidr: "169.254.11.0/30", local: "169.254.11.2", remote: "169.254.11.1" },
      ikeLifetimeS: 28800,
      childLifetimeS: 3600,
      dpdTimeoutS: 30,
      routing: "static",
      remotePrefixes: ["10.99.0.0/16"],
      probe: { intervalMs: 500, fall: 3, rise: 2 },
    },
  });
  t.equal(t2?.aws?.index, 2);
  t.equal(t1?.psk.reveal(), AWS_KEY, "the key file's newline is stripped");
  t.notOk(t1?.probe, "no swanpair probe: AWS runs no agent");

  const v2 = mustLoad(
    await load([
      entry({
        localNetworkCidr: "10.0.0.0/16",
        remoteNetworkCidr: "10.99.0.0/16",
        tunnels: [awsTunnel(1, { ikeVersions: ["ikev1", "ikev2"] }), awsTunnel(2)],
      }),
    ]),
  );
  t.equal(v2.tunnels[0]?.aws?.ikeVersion, 2, "IKEv2 when AWS accepts it");
  t.same(v2.tunnels[0]?.localSubnets, ["10.0.0.0/16"], "narrowed selectors");
  t.same(v2.tunnels[0]?.remoteSubnets, ["10.99.0.0/16"]);
});

t.test("AWS's key rule, not the agent's, and modes as for any key", async (t) => {
  t.ok((await load([entry()], {}, reader("Aws.key8"))).ok, "8 characters: AWS's minimum");
  t.same(issues(await load([entry()], {}, reader("has-a-dash\n"))), [
    "tunnels[0].tunnels[0].psk.file aws-psk",
    "tunnels[0].tunnels[1].psk.file aws-psk",
  ]);
  const r = await load([entry()], {}, reader("0startswithzero"));
  t.match(r.ok ? "" : r.issues[0]?.message, /starts with "0"/);
  t.notMatch(JSON.stringify(r), /startswithzero/, "never echoes the key");
  t.same(issues(await load([entry()], {}, reader(`${AWS_KEY}\n`, 0o100644))), [
    "tunnels[0].tunnels[0].psk.file psk-mode",
    "tunnels[0].tunnels[1].psk.file psk-mode",
  ]);
});

t.test("rules that need the rest of the config", async (t) => {
  const cases: Array<[string, unknown[], Record<string, unknown>, string[]]> = [
    [
      "static routing without the networks behind AWS",
      [entry({ remotePrefixes: undefined })],
      {},
      ["tunnels[0].remotePrefixes required"],
    ],
    [
      "a prefix outside its selector, on either side",
      [
        entry({
          remoteNetworkCidr: "10.99.0.0/16",
          remotePrefixes: ["10.98.0.0/16"],
          localNetworkCidr: "10.0.0.0/16",
          staticRoutes: ["10.0.1.0/24", "192.168.0.0/24"],
        }),
      ],
      {},
      ["tunnels[0].remotePrefixes[0] aws-selector", "tunnels[0].staticRoutes[1] aws-selector"],
    ],
    [
      "an outside address that is not this appliance's",
      [
        entry({
          tunnels: [
            awsTunnel(1, { outside: { local: "203.0.113.9", remote: "198.51.100.11" } }),
            awsTunnel(2),
          ],
        }),
      ],
      {},
      ["tunnels[0].tunnels[0].outside.local aws-outside"],
    ],
    [
      "IKEv1 with only GCM for IKE",
      [
        entry({
          tunnels: [
            awsTunnel(1, { phase1: { ...phase(28800), encryption: ["AES128-GCM-16"] } }),
            awsTunnel(2),
          ],
        }),
      ],
      {},
      ["tunnels[0].tunnels[0].phase1.encryption aws-ikev1-gcm"],
    ],
    [
      "BGP without anything to announce",
      [entry({ routing: "bgp", tunnels: [bgpTunnel(1), bgpTunnel(2)] })],
      {},
      ["tunnels[0].advertise required"],
    ],
    [
      "two BGP entries with different local ASNs",
      [
        entry({
          routing: "bgp",
          advertise: ["10.0.0.0/16"],
          tunnels: [bgpTunnel(1), bgpTunnel(2)],
        }),
        entry({
          name: "other",
          vpnConnectionId: "vpn-0123456789abcdef1",
          routing: "bgp",
          advertise: ["10.0.0.0/16"],
          tunnels: [otherTunnel(1, bgpOf(65001)), otherTunnel(2, bgpOf(65001))],
        }),
      ],
      { datapath: "kernel" },
      [
        "tunnels[0].tunnels[0].ifId required",
        "tunnels[0].tunnels[1].ifId required",
        "tunnels[1].tunnels[0].ifId required",
        "tunnels[1].tunnels[1].ifId required",
        "tunnels[1].tunnels[0].bgp.localAsn bgp-asn",
      ],
    ],
    [
      "kernel without XFRM interface ids",
      [entry()],
      { datapath: "kernel" },
      ["tunnels[0].tunnels[0].ifId required", "tunnels[0].tunnels[1].ifId required"],
    ],
    [
      "a name too long for its tunnels",
      [entry({ name: `a${"b".repeat(60)}` })],
      {},
      ["tunnels[0].name name-length"],
    ],
    [
      "a peer named like an aws-vpn tunnel",
      [
        entry(),
        {
          name: "to-aws-t2",
          type: "peer",
          remoteAddress: "198.51.100.40",
          psk: { file: "/etc/swanpair/psk/p" },
          localSubnets: ["10.0.0.0/16"],
          remoteSubnets: ["10.5.0.0/16"],
        },
      ],
      {},
      ["tunnels[1].name duplicate"],
    ],
    [
      "one inside /30 for two entries",
      [
        entry({ remoteNetworkCidr: "10.99.0.0/16" }),
        entry({
          name: "other",
          vpnConnectionId: "vpn-0123456789abcdef1",
          remoteNetworkCidr: "10.98.0.0/16",
          remotePrefixes: ["10.98.0.0/16"],
          tunnels: [
            awsTunnel(1, { outside: { local: "203.0.113.5", remote: "198.51.100.21" } }),
            awsTunnel(2, {
              inside: { cidr: "169.254.20.0/30", local: "169.254.20.2", remote: "169.254.20.1" },
              outside: { local: "203.0.113.5", remote: "198.51.100.22" },
            }),
          ],
        }),
      ],
      {},
      ["tunnels[1].tunnels[0].inside.cidr duplicate"],
    ],
    [
      "libipsec: two entries with overlapping selectors",
      [
        entry(),
        entry({
          name: "other",
          vpnConnectionId: "vpn-0123456789abcdef1",
          tunnels: [otherTunnel(1), otherTunnel(2)],
        }),
      ],
      {},
      ["tunnels[1] aws-libipsec-overlap"],
    ],
  ];
  for (const [name, tunnels, extra, want] of cases) {
    t.same(issues(await load(tunnels, extra)), want, name);
  }
  const kernel = await load(
    [
      entry(),
      entry({
        name: "other",
        vpnConnectionId: "vpn-0123456789abcdef1",
        tunnels: [otherTunnel(1, { ifId: 3 }), otherTunnel(2, { ifId: 4 })],
      }),
    ].map((e, i) =>
      i === 0 ? { ...e, tunnels: [awsTunnel(1, { ifId: 1 }), awsTunnel(2, { ifId: 3 })] } : e,
    ),
    { datapath: "kernel" },
  );
  t.same(
    issues(kernel),
    ["tunnels[1].tunnels[0].ifId duplicate"],
    "kernel: overlapping selectors are fine (one XFRM interface each), a shared if_id is not",
  );
});

t.test(
  "datapath: libipsec neutralises the 0/0 route; kernel routes over XFRM interfaces",
  async (t) => {
    const libipsec = mustLoad(await load([entry()]));
    t.same(ipCommands(desiredDatapath(libipsec), "eth0"), [
      ["address", "replace", "169.254.11.2/30", "dev", "ipsec0"],
      ["address", "replace", "169.254.12.2/30", "dev", "ipsec0"],
      ["route", "replace", "throw", "0.0.0.0/1", "table", "220", "proto", "250"],
      ["route", "replace", "throw", "128.0.0.0/1", "table", "220", "proto", "250"],
      ["route", "replace", "10.99.0.0/16", "dev", "ipsec0", "src", "10.0.0.5", "proto", "250"],
    ]);

    const kernel = mustLoad(
      await load([entry({ tunnels: [awsTunnel(1, { ifId: 7 }), awsTunnel(2, { ifId: 8 })] })], {
        datapath: "kernel",
      }),
    );
    const routesVia = (carrier?: string) =>
      desiredDatapath(kernel, new Map(carrier ? [["to-aws", carrier]] : [])).routes;
    t.same(ipCommands(desiredDatapath(kernel), "eth0"), [
      ["link", "add", "swp-x7", "type", "xfrm", "dev", "eth0", "if_id", "7"],
      ["link", "set", "swp-x7", "up"],
      ["link", "add", "swp-x8", "type", "xfrm", "dev", "eth0", "if_id", "8"],
      ["link", "set", "swp-x8", "up"],
      ["address", "replace", "169.254.11.2/30", "dev", "swp-x7"],
      ["address", "replace", "169.254.12.2/30", "dev", "swp-x8"],
      ["route", "replace", "10.99.0.0/16", "dev", "swp-x7", "src", "10.0.0.5", "proto", "250"],
    ]);
    t.match(routesVia("to-aws-t2"), [{ dst: "10.99.0.0/16", dev: "swp-x8" }], "over the carrier");
    t.match(routesVia(), [{ dev: "swp-x7" }], "no carrier known: the first tunnel");

    const bgp = mustLoad(
      await load([
        entry({
          routing: "bgp",
          remotePrefixes: undefined,
          advertise: ["10.0.0.0/16"],
          tunnels: [bgpTunnel(1), bgpTunnel(2)],
        }),
      ]),
    );
    t.same(
      desiredDatapath(bgp).routes.filter((r) => r.kind === "dev"),
      [],
      "BGP: the routes are bgpd's, not the agent's",
    );
    const none = mustLoad(
      await load(
        [
          {
            name: "to-b1",
            type: "peer",
            remoteAddress: "198.51.100.20",
            psk: { file: "/etc/swanpair/psk/to-b1" },
            localSubnets: ["10.1.0.0/16"],
            remoteSubnets: ["10.2.0.0/16"],
          },
        ],
        {},
        reader("a-sixteen-char-key-0123"),
      ),
    );
    t.same(desiredDatapath(none), { links: [], addresses: [], routes: [] }, "peers need nothing");
  },
);
