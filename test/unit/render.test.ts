import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import t, { type Test } from "tap";
import { PRESETS } from "../../agent/src/config/proposals.ts";
import type {
  ResolvedAwsVpn,
  ResolvedConfig,
  ResolvedTunnel,
} from "../../agent/src/config/types.ts";
import { renderConnections, renderSecrets } from "../../agent/src/render/connections.ts";
import { sectionFingerprint } from "../../agent/src/render/fingerprint.ts";
import { renderAll, writeRendered } from "../../agent/src/render/index.ts";
import { quoteValue, renderStrongswanConf } from "../../agent/src/render/strongswan-conf.ts";
import { renderSwanctlConf } from "../../agent/src/render/swanctl-conf.ts";
import { encodeMessage } from "../../agent/src/vici/codec.ts";
import type { ViciMessage } from "../../agent/src/vici/message.ts";
import { PHASE1_LIFETIME, PHASE2_LIFETIME } from "../../common/aws-vpn/rules.ts";
import {
  espProposalsFor,
  ikeProposalsFor,
  type PhaseSets,
} from "../../common/aws-vpn/strongswan-proposals.ts";
import { Secret } from "../../common/secret.ts";
import { matchesGolden } from "../helpers/golden.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const PSK_ALPHA = "correct horse battery staple";
const PSK_BETA = "0sesame: not base64";

function tunnel(name: string, overrides: Partial<ResolvedTunnel> = {}): ResolvedTunnel {
  return {
    name,
    type: "peer",
    remoteAddress: "198.51.100.10",
    localId: "203.0.113.1",
    remoteId: "198.51.100.10",
    psk: new Secret(PSK_ALPHA),
    localSubnets: ["10.1.0.0/16"],
    remoteSubnets: ["10.2.0.0/16"],
    ikeProposals: ["aes256gcm16-prfsha384-x25519", "aes256gcm16-prfsha256-modp3072"],
    espProposals: ["aes256gcm16-x25519", "aes256gcm16-modp3072"],
    startAction: "start",
    dpdDelayS: 10,
    ...overrides,
  };
}

function config(
  datapath: ResolvedConfig["datapath"],
  tunnels: ResolvedTunnel[],
  level: ResolvedConfig["log"]["level"] = "info",
): ResolvedConfig {
  return {
    appliance: { name: "vpn-a", localAddress: "10.0.0.10", publicAddress: "203.0.113.1" },
    datapath,
    charon: {
      mode: "child",
      vici: "/run/swanpair/charon.vici",
      binary: "/usr/sbin/charon-systemd",
      pluginDir: "/usr/lib/ipsec/plugins",
      startTimeoutMs: 15000,
    },
    stateDir: "/var/lib/swanpair",
    api: { socket: "/run/swanpair/agent.sock" },
    log: { level },
    tunnels,
    paths: [],
  };
}

/** One AWS VPN connection's two tunnels, as verify makes them from a `type: aws-vpn` entry. */
interface AwsEntry {
  name: string;
  vpnConnectionId: string;
  ikeVersion: 1 | 2;
  phase1: PhaseSets;
  phase2: PhaseSets;
  ikeLifetimeS: number;
  childLifetimeS: number;
  routing: ResolvedAwsVpn["routing"];
  /** The third octet of each tunnel's inside /30 (169.254.N.0/30), and its AWS endpoint. */
  tunnels: [{ inside: number; outside: string }, { inside: number; outside: string }];
  localNetworkCidr?: string;
  remoteNetworkCidr?: string;
  remotePrefixes?: string[];
  ifIds?: [number, number];
}

function awsTunnels(entry: AwsEntry): ResolvedTunnel[] {
  return entry.tunnels.map(({ inside, outside }, k) => {
    const index = (k + 1) as 1 | 2;
    const ifId = entry.ifIds?.[k];
    return {
      name: `${entry.name}-t${index}`,
      type: "aws-vpn",
      aws: {
        entry: entry.name,
        vpnConnectionId: entry.vpnConnectionId,
        index,
        ikeVersion: entry.ikeVersion,
        inside: {
          cidr: `169.254.${inside}.0/30`,
          local: `169.254.${inside}.2`,
          remote: `169.254.${inside}.1`,
        },
        ikeLifetimeS: entry.ikeLifetimeS,
        childLifetimeS: entry.childLifetimeS,
        dpdTimeoutS: 30,
        routing: entry.routing,
        remotePrefixes: entry.remotePrefixes ?? [],
        advertise: entry.routing === "bgp" ? ["10.0.0.0/16"] : [],
        ...(entry.routing === "bgp"
          ? { bgp: { localAsn: 65000, remoteAsn: 64512, holdTimeS: 30 } }
          : {}),
        probe: { intervalMs: 1000, fall: 3, rise: 2 },
      },
      remoteAddress: outside,
      localId: "203.0.113.1",
      remoteId: outside,
      psk: new Secret(`${entry.name}.tunnel_${index}.key`),
      localSubnets: [entry.localNetworkCidr ?? "0.0.0.0/0"],
      remoteSubnets: [entry.remoteNetworkCidr ?? "0.0.0.0/0"],
      ikeProposals: ikeProposalsFor(entry.phase1, entry.ikeVersion),
      espProposals: espProposalsFor(entry.phase2),
      startAction: "start",
      dpdDelayS: 10,
      ...(ifId !== undefined ? { ifId } : {}),
    };
  });
}

/** What moto's CustomerGatewayConfiguration says: IKEv1, aes-128-cbc, sha1, group2, static. */
const awsStatic = (overrides: Partial<AwsEntry> = {}): AwsEntry => ({
  name: "aws-static",
  vpnConnectionId: "vpn-0a1b2c3d4e5f60718",
  ikeVersion: 1,
  phase1: { encryption: ["AES128"], integrity: ["SHA1"], dhGroups: [2] },
  phase2: { encryption: ["AES128"], integrity: ["SHA1"], dhGroups: [2] },
  ikeLifetimeS: 28800,
  childLifetimeS: 3600,
  routing: "static",
  tunnels: [
    { inside: 10, outside: "198.51.100.101" },
    { inside: 11, outside: "198.51.100.102" },
  ],
  remotePrefixes: ["172.31.0.0/16"],
  ...overrides,
});

/** IKEv2 with GCM only, BGP over the inside addresses. */
const awsBgp = (overrides: Partial<AwsEntry> = {}): AwsEntry => ({
  name: "aws-bgp",
  vpnConnectionId: "vpn-0f1e2d3c4b5a69788",
  ikeVersion: 2,
  phase1: {
    encryption: ["AES256-GCM-16", "AES128-GCM-16"],
    integrity: ["SHA2-384", "SHA2-256"],
    dhGroups: [20, 19],
  },
  phase2: { encryption: ["AES256-GCM-16"], integrity: ["SHA2-256"], dhGroups: [20, 19, 14] },
  ikeLifetimeS: 14400,
  childLifetimeS: 1800,
  routing: "bgp",
  tunnels: [
    { inside: 20, outside: "192.0.2.201" },
    { inside: 21, outside: "192.0.2.202" },
  ],
  ...overrides,
});

/** A function, so determinism can be checked on independently built configs. */
const cases = (): Record<string, ResolvedConfig> => ({
  "libipsec-two-tunnels": config("libipsec", [
    tunnel("alpha", {
      priority: 100,
      probe: {
        target: "10.2.0.1",
        source: "10.1.0.1",
        port: 7208,
        intervalMs: 1000,
        timeoutMs: 500,
        fall: 3,
        rise: 2,
      },
    }),
    tunnel("beta", {
      remoteAddress: "192.0.2.20",
      localId: "vpn-a@example.net",
      remoteId: "CN=beta, O=Example Corp",
      psk: new Secret(PSK_BETA),
      localSubnets: ["10.1.0.0/16", "fd00:1::/64"],
      remoteSubnets: ["10.3.0.0/16", "fd00:3::/64"],
      startAction: "trap",
      dpdDelayS: 30,
    }),
  ]),
  "kernel-ifid": config(
    "kernel",
    [
      tunnel("alpha", { ifId: 7, priority: 200 }),
      tunnel("beta", { ifId: 8, remoteAddress: "192.0.2.20" }),
    ],
    "debug",
  ),
  "aws-compatible": config("libipsec", [
    tunnel("aws1", {
      remoteAddress: "52.0.0.1",
      remoteId: "52.0.0.1",
      localSubnets: ["10.1.0.0/16"],
      remoteSubnets: ["172.31.0.0/16"],
      ikeProposals: [...PRESETS["aws-compatible"].ike],
      espProposals: [...PRESETS["aws-compatible"].esp],
    }),
  ]),
  "aws-vpn-libipsec": config("libipsec", awsTunnels(awsStatic())),
  "aws-vpn-kernel": config("kernel", [
    ...awsTunnels(
      awsStatic({
        localNetworkCidr: "10.1.0.0/16",
        remoteNetworkCidr: "172.31.0.0/16",
        ifIds: [11, 12],
      }),
    ),
    ...awsTunnels(awsBgp({ ifIds: [21, 22] })),
  ]),
});
const CASES = cases();

/** Lines, trimmed, so assertions do not depend on indentation. */
function lines(text: string): string[] {
  return text.split("\n").map((line) => line.trim());
}

function mustHave(t: Test, text: string, wanted: string[]) {
  for (const line of wanted) t.ok(lines(text).includes(line), `has line: ${line}`);
}

function mustNotMatch(t: Test, text: string, forbidden: RegExp[]) {
  for (const re of forbidden) t.notMatch(text, re, `has nothing matching ${re}`);
}

const hex = (s: string) => Buffer.from(s, "utf8").toString("hex");

t.test("golden files", async (t) => {
  for (const [name, cfg] of Object.entries(CASES)) {
    const rendered = renderAll(cfg, { redactSecrets: false });
    await matchesGolden(t, `${name}.swanctl.conf`, rendered.swanctlConf);
    await matchesGolden(t, `${name}.strongswan.conf`, rendered.strongswanConf);
    await matchesGolden(
      t,
      `${name}.connections.json`,
      `${JSON.stringify(rendered.connections, null, 2)}\n`,
    );
  }
});

t.test("libipsec strongswan.conf: userspace ESP, self-contained", async (t) => {
  const text = renderStrongswanConf(CASES["libipsec-two-tunnels"] as ResolvedConfig);
  t.match(text, /^# Generated by swanpair-agent/, "says it is generated");
  mustHave(t, text, [
    "charon-systemd {",
    "load = nonce openssl kdf kernel-libipsec kernel-netlink socket-default vici",
    "socket = unix:///run/swanpair/charon.vici",
    "path = /var/lib/swanpair/charon.log",
    "default = -1",
  ]);
  // install_routes would not stop kernel-libipsec's TUN routes; "no" would only mislead.
  mustNotMatch(t, text, [/^\s*include\b/m, /load_modular/, /^\s*charon \{/m, /install_routes/]);
  t.ok(text.endsWith("}\n"), "ends with a newline");
});

t.test("kernel strongswan.conf: XFRM, no libipsec, charon installs no routes", async (t) => {
  const text = renderStrongswanConf(CASES["kernel-ifid"] as ResolvedConfig);
  mustHave(t, text, [
    "load = nonce openssl kdf kernel-netlink socket-default vici",
    "install_routes = no",
    "default = 2",
  ]);
  mustNotMatch(t, text, [/kernel-libipsec/, /install_routes = yes/, /^\s*include\b/m]);
});

t.test("charon log level follows the agent's, never up to key dumps", async (t) => {
  const levels: [ResolvedConfig["log"]["level"], string][] = [
    ["fatal", "0"],
    ["warn", "1"],
    ["info", "1"],
    ["debug", "2"],
    ["trace", "3"],
  ];
  for (const [level, charon] of levels) {
    mustHave(t, renderStrongswanConf(config("libipsec", [], level)), [`default = ${charon}`]);
  }
});

t.test("if_id only with the kernel datapath", async (t) => {
  const withIfId = [tunnel("alpha", { ifId: 7 })];
  const kernel = renderAll(config("kernel", withIfId), { redactSecrets: false }).swanctlConf;
  mustHave(t, kernel, ["if_id_in = 7", "if_id_out = 7"]);
  const libipsec = renderAll(config("libipsec", withIfId), { redactSecrets: false }).swanctlConf;
  mustNotMatch(t, libipsec, [/if_id/]);
  const noIfId = renderAll(config("kernel", [tunnel("alpha")]), { redactSecrets: false });
  mustNotMatch(t, noIfId.swanctlConf, [/if_id/]);
});

/** The settings directly in one block of settings text (not its sub-blocks), trimmed. */
function block(text: string, path: string[]): string[] {
  const stack: string[] = [];
  const out: string[] = [];
  for (const line of lines(text)) {
    const open = /^(\S+) \{$/.exec(line);
    if (open) stack.push(open[1] as string);
    else if (line === "}") stack.pop();
    else if (stack.join(".") === path.join(".")) out.push(line);
  }
  return out;
}

function blockHas(t: Test, text: string, path: string[], wanted: string[]) {
  const found = block(text, path);
  for (const line of wanted) t.ok(found.includes(line), `${path.slice(1).join(".")}: ${line}`);
}

function blockLacks(t: Test, text: string, path: string[], forbidden: RegExp) {
  const found = block(text, path).filter((line) => forbidden.test(line));
  t.same(found, [], `${path.slice(1).join(".")}: nothing matching ${forbidden}`);
}

const conn = (name: string) => ["connections", name];
const child = (name: string) => ["connections", name, "children", name];

t.test("aws-vpn, IKEv1 (moto's set, static routing) under libipsec", async (t) => {
  const text = renderAll(CASES["aws-vpn-libipsec"] as ResolvedConfig, {
    redactSecrets: true,
  }).swanctlConf;
  for (const [name, aws] of [
    ["aws-static-t1", "198.51.100.101"],
    ["aws-static-t2", "198.51.100.102"],
  ] as const) {
    blockHas(t, text, conn(name), [
      "version = 1",
      "aggressive = no",
      "local_addrs = 10.0.0.10",
      `remote_addrs = ${aws}`,
      "proposals = aes128-sha1-modp1024",
      "dpd_delay = 10s",
      "dpd_timeout = 30s",
      // 90 % of AWS's 28800 s, up to 10 % earlier; hard end at 28800 s.
      "rekey_time = 25920s",
      "over_time = 2880s",
      "rand_time = 2880s",
      "mobike = no",
    ]);
    blockHas(t, text, [...conn(name), "local"], ["auth = psk", "id = 203.0.113.1"]);
    blockHas(t, text, [...conn(name), "remote"], ["auth = psk", `id = ${aws}`]);
    blockHas(t, text, child(name), [
      "local_ts = 0.0.0.0/0",
      "remote_ts = 0.0.0.0/0",
      "esp_proposals = aes128-sha1-modp1024",
      "mode = tunnel",
      "start_action = start",
      "dpd_action = restart",
      "close_action = start",
      "rekey_time = 3240s",
      "life_time = 3600s",
      "rand_time = 360s",
    ]);
    blockLacks(t, text, child(name), /^(if_id|priority)/);
  }
  mustNotMatch(t, text, [/-probe \{/, /if_id/, /aggressive = yes/]);
});

t.test("aws-vpn under kernel: IKEv2 has no IKEv1 settings; XFRM interface ids", async (t) => {
  const text = renderAll(CASES["aws-vpn-kernel"] as ResolvedConfig, {
    redactSecrets: true,
  }).swanctlConf;
  blockHas(t, text, conn("aws-bgp-t1"), [
    "version = 2",
    "proposals = aes256gcm16-aes128gcm16-prfsha384-prfsha256-ecp384-ecp256",
    "rekey_time = 12960s",
    "over_time = 1440s",
    "rand_time = 1440s",
  ]);
  blockLacks(t, text, conn("aws-bgp-t1"), /^(aggressive|dpd_timeout) /);
  blockHas(t, text, child("aws-bgp-t1"), [
    "esp_proposals = aes256gcm16-ecp384-ecp256-modp2048",
    "local_ts = 0.0.0.0/0",
    "if_id_in = 21",
    "if_id_out = 21",
    "rekey_time = 1620s",
    "life_time = 1800s",
    "rand_time = 180s",
  ]);
  blockHas(t, text, child("aws-bgp-t2"), ["if_id_in = 22", "if_id_out = 22"]);
  blockHas(t, text, conn("aws-static-t2"), ["version = 1", "dpd_timeout = 30s"]);
  blockHas(t, text, child("aws-static-t2"), [
    "local_ts = 10.1.0.0/16",
    "remote_ts = 172.31.0.0/16",
    "if_id_in = 12",
    "if_id_out = 12",
  ]);
});

t.test("aws-vpn: one CHILD_SA per tunnel, named after it, started by charon", async (t) => {
  for (const datapath of ["libipsec", "kernel"] as const) {
    const tunnels = awsTunnels(awsBgp({ ifIds: [21, 22] }));
    const conns = renderConnections(config(datapath, tunnels));
    t.same(Object.keys(conns), ["aws-bgp-t1", "aws-bgp-t2"], `${datapath}: in order`);
    for (const [name, message] of Object.entries(conns)) {
      const children = message.children as Record<string, ViciMessage>;
      t.same(Object.keys(children), [name], `${datapath} ${name}: its one child`);
      t.match(children[name], { start_action: "start", mode: "tunnel" });
      t.notOk("priority" in (children[name] as ViciMessage), "no priority");
    }
  }
  // A peer tunnel next to them keeps its probe child.
  const probe = { target: "10.2.0.1", source: "10.1.0.1", port: 7208 };
  const timing = { intervalMs: 1000, timeoutMs: 500, fall: 3, rise: 2 };
  const mixed = renderConnections(
    config("libipsec", [
      ...awsTunnels(awsStatic()),
      tunnel("alpha", { probe: { ...probe, ...timing } }),
    ]),
  );
  t.same(Object.keys((mixed.alpha as ViciMessage).children as ViciMessage), [
    "alpha",
    "alpha-probe",
  ]);
});

t.test("aws-vpn secrets: each tunnel's key, owned by its identities", async (t) => {
  const secrets = renderSecrets(CASES["aws-vpn-libipsec"] as ResolvedConfig);
  t.same(
    secrets.map(({ id, owners }) => ({ id, owners })),
    [
      { id: "psk-aws-static-t1", owners: ["203.0.113.1", "198.51.100.101"] },
      { id: "psk-aws-static-t2", owners: ["203.0.113.1", "198.51.100.102"] },
    ],
  );
});

t.test("aws-vpn lifetimes: rekeyed before AWS's, never held past it", async (t) => {
  const seconds = (v: unknown) => Number(/^(\d+)s$/.exec(String(v))?.[1]);
  fc.assert(
    fc.property(
      fc.integer({ min: PHASE1_LIFETIME.min, max: PHASE1_LIFETIME.max }),
      fc.integer({ min: PHASE2_LIFETIME.min, max: PHASE2_LIFETIME.max }),
      fc.constantFrom(1 as const, 2 as const),
      (ikeLifetimeS, childLifetimeS, ikeVersion) => {
        const [t1] = awsTunnels(awsStatic({ ikeLifetimeS, childLifetimeS, ikeVersion }));
        const message = renderConnections(config("libipsec", [t1 as ResolvedTunnel]))[
          "aws-static-t1"
        ] as ViciMessage;
        const ike = {
          rekey: seconds(message.rekey_time),
          over: seconds(message.over_time),
          rand: seconds(message.rand_time),
        };
        const c = ((message.children as ViciMessage)["aws-static-t1"] ?? {}) as ViciMessage;
        const ch = {
          rekey: seconds(c.rekey_time),
          life: seconds(c.life_time),
          rand: seconds(c.rand_time),
        };
        return (
          // The hard end is AWS's lifetime (IKEv1 proposes rekey + over for the ISAKMP SA).
          ike.rekey + ike.over === ikeLifetimeS &&
          ch.life === childLifetimeS &&
          // The earliest and the latest rekey: 80 % to 90 % of AWS's lifetime.
          ike.rekey - ike.rand >= Math.floor(ikeLifetimeS * 0.8) &&
          ike.rekey < ikeLifetimeS &&
          ch.rekey - ch.rand >= Math.floor(childLifetimeS * 0.8) &&
          ch.rekey < ch.life
        );
      },
    ),
  );
  t.pass("checked");
});

t.test("priority only when set", async (t) => {
  const [alpha, beta] = Object.values(
    renderConnections(config("libipsec", [tunnel("alpha", { priority: 0 }), tunnel("beta")])),
  ) as [ViciMessage, ViciMessage];
  t.match((alpha.children as ViciMessage).alpha, { priority: "0" }, "0 is a value, not unset");
  t.notOk("priority" in ((beta.children as ViciMessage).beta as ViciMessage));
});

t.test("load-conn sections", async (t) => {
  const conns = renderConnections(config("libipsec", [tunnel("zulu"), tunnel("alpha")]));
  t.same(Object.keys(conns), ["zulu", "alpha"], "keyed by tunnel name, in config order");
  t.strictSame(conns.alpha, {
    version: "2",
    local_addrs: ["10.0.0.10"],
    remote_addrs: ["198.51.100.10"],
    proposals: ["aes256gcm16-prfsha384-x25519", "aes256gcm16-prfsha256-modp3072"],
    dpd_delay: "10s",
    mobike: "no",
    local: { auth: "psk", id: "203.0.113.1" },
    remote: { auth: "psk", id: "198.51.100.10" },
    children: {
      alpha: {
        local_ts: ["10.1.0.0/16"],
        remote_ts: ["10.2.0.0/16"],
        esp_proposals: ["aes256gcm16-x25519", "aes256gcm16-modp3072"],
        start_action: "start",
        dpd_action: "restart",
        close_action: "start",
      },
    },
  });
});

t.test("DPD and close actions return each tunnel to its start_action", async (t) => {
  const expected = {
    start: { dpd_action: "restart", close_action: "start" },
    trap: { dpd_action: "trap", close_action: "trap" },
    none: { dpd_action: "clear", close_action: "none" },
  } as const;
  for (const [startAction, actions] of Object.entries(expected)) {
    const conns = renderConnections(
      config("libipsec", [
        tunnel("alpha", { startAction: startAction as ResolvedTunnel["startAction"] }),
      ]),
    );
    const child = ((conns.alpha as ViciMessage).children as ViciMessage).alpha;
    t.match(child, { start_action: startAction, ...actions }, startAction);
  }
});

t.test("secrets", async (t) => {
  const cfg = CASES["libipsec-two-tunnels"] as ResolvedConfig;
  const secrets = renderSecrets(cfg);
  t.same(
    secrets.map(({ id, type, owners }) => ({ id, type, owners })),
    [
      { id: "psk-alpha", type: "IKE", owners: ["203.0.113.1", "198.51.100.10"] },
      { id: "psk-beta", type: "IKE", owners: ["vpn-a@example.net", "CN=beta, O=Example Corp"] },
    ],
  );
  t.equal(secrets[0]?.data, cfg.tunnels[0]?.psk, "data is the unrevealed Secret");

  const shared = renderSecrets(
    config("libipsec", [
      tunnel("one", { localId: "a.one", remoteId: "b.one", psk: new Secret(PSK_ALPHA) }),
      tunnel("two", { localId: "a.two", remoteId: "b.two", psk: new Secret(PSK_BETA) }),
      tunnel("three", { localId: "a.one", remoteId: "b.three", psk: new Secret(PSK_ALPHA) }),
    ]),
  );
  t.same(
    shared.map(({ id, owners }) => ({ id, owners })),
    [
      { id: "psk-one", owners: ["a.one", "b.one", "b.three"] },
      { id: "psk-two", owners: ["a.two", "b.two"] },
    ],
    "tunnels sharing a key share one secret owned by all their identities",
  );

  const full = renderAll(cfg, { redactSecrets: false });
  mustHave(t, full.swanctlConf, [`secret = 0x${hex(PSK_ALPHA)}`, `secret = 0x${hex(PSK_BETA)}`]);
  mustNotMatch(t, full.swanctlConf, [new RegExp(PSK_ALPHA), new RegExp(PSK_BETA)]);

  const redacted = renderAll(cfg, { redactSecrets: true });
  t.equal(lines(redacted.swanctlConf).filter((l) => l === "secret = <redacted>").length, 2);
  mustNotMatch(t, redacted.swanctlConf, [
    new RegExp(PSK_ALPHA),
    new RegExp(PSK_BETA),
    new RegExp(hex(PSK_ALPHA)),
    new RegExp(hex(PSK_BETA)),
    /secret = 0x/,
  ]);
  t.notMatch(JSON.stringify(redacted), PSK_ALPHA, "the rendered object serialises without keys");
});

t.test("a PSK that looks like hex or base64 is still read as itself", async (t) => {
  for (const psk of [
    "0x41414141",
    "0sQUFBQQ==",
    "0XAB",
    "0Sab",
    'a "quoted" #{psk}\\ ',
    "ünïcödé",
  ]) {
    const text = renderAll(config("libipsec", [tunnel("alpha", { psk: new Secret(psk) })]), {
      redactSecrets: false,
    }).swanctlConf;
    const value = /^\s*secret = 0x([0-9a-f]+)$/m.exec(text)?.[1];
    t.equal(Buffer.from(value ?? "", "hex").toString("utf8"), psk, JSON.stringify(psk));
  }
});

/**
 * How strongSwan's settings lexer (settings_lexer.l) reads a value back: unquoted words
 * separated by single spaces, or one double-quoted string with backslash escapes.
 * undefined when the lexer would stop early or read something else.
 */
function readBack(value: string): string | undefined {
  if (!value.startsWith('"'))
    return /^[^#}"\r\n\t ]+( [^#}"\r\n\t ]+)*$/.test(value) ? value : undefined;
  const map: Record<string, string> = { n: "\n", r: "\r", t: "\t" };
  let out = "";
  for (let i = 1; i < value.length; i++) {
    const c = value[i] as string;
    if (c === '"') return i === value.length - 1 ? out : undefined;
    if (c === "\\") {
      const next = value[++i];
      if (next === undefined) return undefined;
      out += map[next] ?? next;
    } else if (c !== "\r") out += c;
  }
  return undefined;
}

t.test("quoting", async (t) => {
  const cases: [string, string][] = [
    ["plain.example", "plain.example"],
    ["%any", "%any"],
    ["10.1.0.0/16,10.2.0.0/16", "10.1.0.0/16,10.2.0.0/16"],
    ["two words", "two words"],
    ["two  spaces", '"two  spaces"'],
    [" lead", '" lead"'],
    ["CN=x, O=y", '"CN=x, O=y"'],
    ['say "hi"', '"say \\"hi\\""'],
    ["back\\slash", '"back\\\\slash"'],
    ["#not a comment", '"#not a comment"'],
    ["}{", '"}{"'],
    ["tab\there", '"tab\\there"'],
    ["line\nbreak\r", '"line\\nbreak\\r"'],
    ["", '""'],
  ];
  for (const [input, output] of cases) {
    t.equal(quoteValue(input), output, JSON.stringify(input));
    t.equal(readBack(output), input, `${JSON.stringify(output)} reads back`);
  }
  t.throws(() => quoteValue("nul\0"), /NUL/);

  fc.assert(
    fc.property(
      fc.string({ unit: "binary" }).filter((s) => !s.includes("\0")),
      (s) => {
        const quoted = quoteValue(s);
        return readBack(quoted) === s && !quoted.includes("\n") && !quoted.includes("\r");
      },
    ),
  );
});

t.test("nasty identities are quoted in swanctl.conf", async (t) => {
  const text = renderAll(
    config("libipsec", [tunnel("alpha", { localId: 'CN=a "b", O=#1', remoteId: "x}y{z" })]),
    { redactSecrets: true },
  ).swanctlConf;
  mustHave(t, text, ['id = "CN=a \\"b\\", O=#1"', 'id = "x}y{z"', 'id-1 = "CN=a \\"b\\", O=#1"']);
});

t.test("what swanctl.conf cannot express is refused, not mangled", async (t) => {
  t.throws(() => renderSwanctlConf({ "a.b": {} }, []), /section or key name/);
  t.throws(() => renderSwanctlConf({ a: { "has space": "x" } }, []), /section or key name/);
  t.throws(() => renderSwanctlConf({ a: { local_ts: ["10.0.0.0/8,x"] } }, []), /local_ts/);
  t.throws(() => renderSwanctlConf({ a: { local_ts: [""] } }, []), /local_ts/);
  t.throws(() => renderSwanctlConf({ a: { id: new Uint8Array([1]) } }, []), /bytes/);
});

t.test("rendering is deterministic", async (t) => {
  const again = cases();
  for (const [name, cfg] of Object.entries(CASES)) {
    const a = renderAll(cfg, { redactSecrets: false });
    const b = renderAll(again[name] as ResolvedConfig, { redactSecrets: false });
    t.equal(a.swanctlConf, b.swanctlConf, name);
    t.equal(a.strongswanConf, b.strongswanConf, name);
    t.strictSame(a.connections, b.connections, name);
    t.equal(renderAll(cfg, { redactSecrets: false }).swanctlConf, a.swanctlConf, `${name}, twice`);
  }
});

t.test("sectionFingerprint", async (t) => {
  const base = () =>
    renderConnections(CASES["libipsec-two-tunnels"] as ResolvedConfig).alpha as ViciMessage;
  const digest = sectionFingerprint(base());
  t.equal(Buffer.from(digest, "latin1").compare(encodeMessage(base())), 0, "the wire encoding");
  t.equal(sectionFingerprint(base()), digest, "same section, same fingerprint");

  const variants: [string, ResolvedTunnel][] = [
    ["remote address", tunnel("alpha", { remoteAddress: "198.51.100.11" })],
    ["local id", tunnel("alpha", { localId: "203.0.113.2" })],
    ["remote subnet", tunnel("alpha", { remoteSubnets: ["10.2.0.0/17"] })],
    [
      "proposal order",
      tunnel("alpha", {
        ikeProposals: ["aes256gcm16-prfsha256-modp3072", "aes256gcm16-prfsha384-x25519"],
      }),
    ],
    ["esp proposals", tunnel("alpha", { espProposals: ["aes256gcm16-x25519"] })],
    ["start action", tunnel("alpha", { startAction: "trap" })],
    ["dpd delay", tunnel("alpha", { dpdDelayS: 11 })],
    ["priority", tunnel("alpha", { priority: 101 })],
    [
      "a probe (its own CHILD_SA)",
      tunnel("alpha", {
        probe: {
          target: "10.2.0.9",
          source: "10.1.0.9",
          port: 7208,
          intervalMs: 1000,
          timeoutMs: 500,
          fall: 3,
          rise: 2,
        },
      }),
    ],
  ];
  const seen = new Set([
    sectionFingerprint(
      renderConnections(config("libipsec", [tunnel("alpha")])).alpha as ViciMessage,
    ),
  ]);
  for (const [what, changed] of variants) {
    const d = sectionFingerprint(
      renderConnections(config("libipsec", [changed])).alpha as ViciMessage,
    );
    t.notOk(seen.has(d), `${what} changes the fingerprint`);
    seen.add(d);
  }
  // The probe's addresses make its CHILD_SA; its timing and the key are not charon's business.
  const timing = { port: 7208, intervalMs: 250, timeoutMs: 100, fall: 5, rise: 4 };
  const probeTimingOnly = tunnel("alpha", {
    priority: 100,
    psk: new Secret("other"),
    probe: { target: "10.2.0.1", source: "10.1.0.1", ...timing },
  });
  t.equal(
    sectionFingerprint(
      renderConnections(config("libipsec", [probeTimingOnly])).alpha as ViciMessage,
    ),
    digest,
    "the probe's timing and the PSK are not part of the connection",
  );
  const probeMoved = tunnel("alpha", {
    priority: 100,
    probe: { target: "10.2.0.2", source: "10.1.0.1", ...timing },
  });
  t.not(
    sectionFingerprint(renderConnections(config("libipsec", [probeMoved])).alpha as ViciMessage),
    digest,
    "the probe's target is (its CHILD_SA's selector)",
  );

  // The encoding is unambiguous and follows the wire, not JavaScript types.
  t.equal(
    sectionFingerprint({ k: "ab" }),
    sectionFingerprint({ k: new Uint8Array([0x61, 0x62]) }),
    "string = its bytes",
  );
  const distinct: ViciMessage[] = [
    { k: "a" },
    { k: ["a"] },
    { k: { a: "" } },
    { k: "", a: "" },
    { k: ["a", "b"] },
    { k: ["ab"] },
    { k: ["a,b"] },
    { ka: "" },
    { a: "", k: "" },
    {},
  ];
  t.equal(
    new Set(distinct.map(sectionFingerprint)).size,
    distinct.length,
    "no collisions between shapes",
  );
});

t.test("writeRendered", async (t) => {
  const out = join(await tempDir(t, "swp-render-"), "out");
  const rendered = renderAll(CASES["kernel-ifid"] as ResolvedConfig, { redactSecrets: false });
  await writeRendered(out, rendered);
  t.equal((await stat(join(out, "swanctl.conf"))).mode & 0o777, 0o600, "swanctl.conf is 0600");
  t.equal(
    (await stat(join(out, "strongswan.conf"))).mode & 0o777,
    0o644,
    "strongswan.conf is 0644",
  );
  t.equal(await readFile(join(out, "swanctl.conf"), "utf8"), rendered.swanctlConf);
  t.equal(await readFile(join(out, "strongswan.conf"), "utf8"), rendered.strongswanConf);
  await t.rejects(
    writeRendered(out, renderAll(CASES["kernel-ifid"] as ResolvedConfig, { redactSecrets: true })),
    /redacted/,
  );
  t.equal(
    await readFile(join(out, "swanctl.conf"), "utf8"),
    rendered.swanctlConf,
    "left untouched",
  );
});
