import { inspect } from "node:util";
import type { VpnConnection } from "@aws-sdk/client-ec2";
import t from "tap";
import { pskFilePath, toEntry } from "../../common/aws-vpn/entry.ts";
import { fromVpnConnection } from "../../common/aws-vpn/from-ec2.ts";
import { fromXml } from "../../common/aws-vpn/from-xml.ts";
import type { AwsVpnConnection } from "../../common/aws-vpn/model.ts";
import { awsVpnEntrySchema } from "../../common/aws-vpn/schema.ts";
import {
  BAD_DOCUMENTS,
  EXAMPLE_PSKS,
  EXAMPLE_XML,
  STATIC_XML,
} from "../fixtures/aws-vpn/malformed.ts";

/** CustomerGatewayConfiguration XML and DescribeVpnConnections to the model, and back out as an entry. */

function mustImport(xml: string): AwsVpnConnection {
  const r = fromXml(xml);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.connection;
}

/** The model with each key revealed, for comparison. */
function plain(c: AwsVpnConnection) {
  return { ...c, tunnels: c.tunnels.map((x) => ({ ...x, psk: x.psk.reveal() })) };
}

const SHARED = {
  ikeVersions: ["ikev1"],
  phase1: { encryption: ["AES128"], integrity: ["SHA1"], dhGroups: [2], lifetimeS: 28800 },
  phase2: { encryption: ["AES128"], integrity: ["SHA1"], dhGroups: [2], lifetimeS: 3600 },
  dpd: { delayS: 10, timeoutS: 30 },
  bgp: { customerGatewayAsn: 65000, vpnGatewayAsn: 64512, holdTimeS: 30 },
};

const EXPECTED = {
  vpnConnectionId: "vpn-0a1b2c3d4e5f60718",
  customerGatewayId: "cgw-0123456789abcdef0",
  vpnGatewayId: "vgw-0fedcba9876543210",
  routing: "bgp",
  tunnels: [
    {
      outside: { customerGateway: "198.51.100.10", vpnGateway: "203.0.113.11" },
      inside: {
        cidr: "169.254.10.0/30",
        customerGateway: "169.254.10.2",
        vpnGateway: "169.254.10.1",
      },
      psk: EXAMPLE_PSKS[0],
      ...SHARED,
    },
    {
      outside: { customerGateway: "198.51.100.10", vpnGateway: "203.0.113.12" },
      inside: {
        cidr: "169.254.11.4/30",
        customerGateway: "169.254.11.6",
        vpnGateway: "169.254.11.5",
      },
      psk: EXAMPLE_PSKS[1],
      ...SHARED,
    },
  ],
};

t.test("the example document imports to exactly this model", async (t) => {
  t.strictSame(plain(mustImport(EXAMPLE_XML)), EXPECTED);
});

t.test("without <bgp> the connection is static and the tunnels carry no BGP", async (t) => {
  const c = mustImport(STATIC_XML);
  t.equal(c.routing, "static");
  t.same(
    c.tunnels.map((x) => x.bgp),
    [undefined, undefined],
  );
});

t.test("the model never shows a key in JSON or inspect", async (t) => {
  const c = mustImport(EXAMPLE_XML);
  const shown = `${JSON.stringify(c)} ${inspect(c, { depth: 9 })}`;
  for (const psk of EXAMPLE_PSKS) t.notOk(shown.includes(psk), "key hidden");
});

t.test(
  `${BAD_DOCUMENTS.length} malformed or out-of-rule documents, each refused naming the element`,
  async (t) => {
    t.ok(BAD_DOCUMENTS.length >= 10);
    for (const bad of BAD_DOCUMENTS) {
      const r = fromXml(bad.xml);
      t.equal(r.ok, false, `${bad.name}: refused`);
      if (r.ok) continue;
      const issue = r.issues.find((i) => i.path === bad.path && i.rule === bad.rule);
      t.ok(issue, `${bad.name}: names ${bad.path || "(the document)"} [${bad.rule}]`, {
        issues: r.issues,
      });
      if (issue && bad.says) t.match(issue.message, bad.says, `${bad.name}: says ${bad.says}`);
      for (const psk of EXAMPLE_PSKS)
        t.notOk(JSON.stringify(r.issues).includes(psk), `${bad.name}: no key in the issues`);
    }
  },
);

t.test("every problem of a document is reported, not just the first", async (t) => {
  const xml = EXAMPLE_XML.replace("Example.psk_Tunnel1", "0xample.psk_Tunnel1").replace(
    "<lifetime>28800</lifetime>",
    "<lifetime>100</lifetime>",
  );
  const r = fromXml(xml);
  t.equal(r.ok, false);
  if (!r.ok)
    t.same(r.issues.map((i) => i.path).sort(), [
      "vpn_connection/ipsec_tunnel[1]/ike/lifetime",
      "vpn_connection/ipsec_tunnel[1]/ike/pre_shared_key",
    ]);
});

t.test("the entry written for the model passes the aws-vpn schema", async (t) => {
  const c = mustImport(EXAMPLE_XML);
  const files: [string, string] = [
    pskFilePath("/k", c.vpnConnectionId, 1),
    pskFilePath("/k", c.vpnConnectionId, 2),
  ];
  t.same(files, ["/k/vpn-0a1b2c3d4e5f60718-tunnel1.psk", "/k/vpn-0a1b2c3d4e5f60718-tunnel2.psk"]);
  const entry = toEntry(c, files);
  const parsed = awsVpnEntrySchema.safeParse(entry);
  t.ok(parsed.success, "valid", { error: parsed.error?.issues });
  t.notOk(JSON.stringify(entry).includes(EXAMPLE_PSKS[0] as string), "no key in the entry");
  const stat = awsVpnEntrySchema.safeParse(toEntry(mustImport(STATIC_XML), files));
  t.ok(stat.success, "the static entry is valid too");
});

t.test("the schema holds a hand-edited entry to AWS's rules, with field paths", async (t) => {
  const entry = toEntry(mustImport(EXAMPLE_XML), ["/k/1", "/k/2"]);
  const edit = (change: (e: typeof entry) => void) => {
    const copy = structuredClone(entry);
    change(copy);
    const r = awsVpnEntrySchema.safeParse(copy);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  };
  const tunnel = (e: typeof entry, n: 0 | 1) => e.tunnels[n] as (typeof entry.tunnels)[0];
  t.match(
    edit((e) => {
      tunnel(e, 0).inside.cidr = "169.254.169.252/30";
    }),
    [/tunnels\.0\.inside\.cidr: .*reserved by AWS/],
  );
  t.match(
    edit((e) => {
      tunnel(e, 1).phase1.dhGroups = [5];
    }),
    [/tunnels\.1\.phase1\.dhGroups\.0: must be a Diffie-Hellman group/],
  );
  t.match(
    edit((e) => {
      tunnel(e, 0).phase2.lifetimeS = 4000;
    }),
    [/tunnels\.0\.phase2\.lifetimeS/],
  );
  t.match(
    edit((e) => {
      tunnel(e, 0).dpd.timeoutS = 20;
    }),
    [/tunnels\.0\.dpd\.timeoutS: DPD timeout 20 s/],
  );
  t.match(
    edit((e) => {
      delete tunnel(e, 1).bgp;
    }),
    [/tunnels\.1\.bgp: is required with routing bgp/],
  );
  t.match(
    edit((e) => {
      tunnel(e, 1).inside = { ...tunnel(e, 0).inside };
    }),
    [/tunnels\.1\.inside\.cidr: is the same \/30/],
  );
  t.match(
    edit((e) => {
      e.tunnels.pop();
    }),
    [/tunnels: must list both tunnels/],
  );
});

/** DescribeVpnConnections' shape, as the SDK returns it. */
function described(extra: Partial<VpnConnection> = {}): VpnConnection {
  return {
    VpnConnectionId: "vpn-0a1b2c3d4e5f60718",
    State: "available",
    Type: "ipsec.1",
    CustomerGatewayConfiguration: EXAMPLE_XML,
    ...extra,
  };
}

t.test("from EC2: the XML alone when there are no tunnel options", async (t) => {
  const r = fromVpnConnection(described());
  t.ok(r.ok);
  if (r.ok) t.strictSame(plain(r.connection), EXPECTED);
});

t.test("from EC2: TunnelOptions widen the proposals, checked against the XML", async (t) => {
  const values = <T>(...v: T[]) => v.map((Value) => ({ Value }));
  const r = fromVpnConnection(
    described({
      Options: {
        StaticRoutesOnly: false,
        LocalIpv4NetworkCidr: "0.0.0.0/0",
        RemoteIpv4NetworkCidr: "10.20.0.0/16",
        // Listed in the other order: matched by outside address, not position.
        TunnelOptions: [
          { OutsideIpAddress: "203.0.113.12", TunnelInsideCidr: "169.254.11.4/30" },
          {
            OutsideIpAddress: "203.0.113.11",
            TunnelInsideCidr: "169.254.10.0/30",
            PreSharedKey: EXAMPLE_PSKS[0],
            IkeVersions: values("ikev2"),
            Phase1EncryptionAlgorithms: values("AES256-GCM-16"),
            Phase1IntegrityAlgorithms: values("SHA2-384"),
            Phase1DHGroupNumbers: values(20, 21),
            Phase2EncryptionAlgorithms: values("AES256"),
            Phase2IntegrityAlgorithms: values("SHA2-256"),
            Phase2DHGroupNumbers: values(5),
            Phase1LifetimeSeconds: 14400,
            Phase2LifetimeSeconds: 1800,
            DpdTimeoutSeconds: 40,
          },
        ],
      },
    }),
  );
  t.ok(r.ok, "imported", { issues: r.ok ? [] : r.issues });
  if (!r.ok) return;
  const [one, two] = r.connection.tunnels;
  t.same(one.ikeVersions, ["ikev2"]);
  t.same(one.phase1, {
    encryption: ["AES256-GCM-16"],
    integrity: ["SHA2-384"],
    dhGroups: [20, 21],
    lifetimeS: 14400,
  });
  t.same(one.phase2, {
    encryption: ["AES256"],
    integrity: ["SHA2-256"],
    dhGroups: [5],
    lifetimeS: 1800,
  });
  t.same(one.dpd, { delayS: 10, timeoutS: 40 });
  t.same(two.phase1, SHARED.phase1, "an option without lists keeps the XML's");
  t.equal(r.connection.remoteNetworkCidr, "10.20.0.0/16");
  t.equal(r.connection.localNetworkCidr, undefined, "0.0.0.0/0 is the default, left out");
});

t.test("from EC2: disagreements and out-of-rule options are refused by name", async (t) => {
  const cases: Array<[string, Partial<VpnConnection>, string]> = [
    ["deleted", { State: "deleted" }, "State"],
    ["no XML", { CustomerGatewayConfiguration: undefined }, "CustomerGatewayConfiguration"],
    ["static vs BGP", { Options: { StaticRoutesOnly: true } }, "Options.StaticRoutesOnly"],
    [
      "unknown endpoint",
      { Options: { TunnelOptions: [{ OutsideIpAddress: "192.0.2.99" }] } },
      "Options.TunnelOptions",
    ],
    [
      "inside CIDR differs",
      {
        Options: {
          TunnelOptions: [
            { OutsideIpAddress: "203.0.113.11", TunnelInsideCidr: "169.254.99.0/30" },
            { OutsideIpAddress: "203.0.113.12" },
          ],
        },
      },
      "Options.TunnelOptions[0].TunnelInsideCidr",
    ],
    [
      "key differs",
      {
        Options: {
          TunnelOptions: [
            { OutsideIpAddress: "203.0.113.11" },
            { OutsideIpAddress: "203.0.113.12", PreSharedKey: "Different.key1" },
          ],
        },
      },
      "Options.TunnelOptions[1].PreSharedKey",
    ],
    [
      "DH group 1",
      {
        Options: {
          TunnelOptions: [
            { OutsideIpAddress: "203.0.113.11", Phase1DHGroupNumbers: [{ Value: 1 }] },
            { OutsideIpAddress: "203.0.113.12" },
          ],
        },
      },
      "Options.TunnelOptions[0].Phase1DHGroupNumbers[0]",
    ],
    [
      "DPD timeout 20",
      {
        Options: {
          TunnelOptions: [
            { OutsideIpAddress: "203.0.113.11" },
            { OutsideIpAddress: "203.0.113.12", DpdTimeoutSeconds: 20 },
          ],
        },
      },
      "Options.TunnelOptions[1].DpdTimeoutSeconds",
    ],
  ];
  for (const [name, extra, path] of cases) {
    const r = fromVpnConnection(described(extra));
    t.equal(r.ok, false, `${name}: refused`);
    if (!r.ok) {
      t.ok(
        r.issues.some((i) => i.path === path),
        `${name}: names ${path}`,
        { issues: r.issues },
      );
      t.notOk(JSON.stringify(r.issues).includes("Different.key1"), `${name}: no key shown`);
    }
  }
});
