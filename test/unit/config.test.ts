import { chmod, copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { inspect } from "node:util";
import fc from "fast-check";
import t from "tap";
import { stringify } from "yaml";
import {
  formatIssue,
  formatLoadResult,
  issueReport,
} from "../../agent/src/config/format-issues.ts";
import { type FileReader, loadConfigFile, loadConfigText } from "../../agent/src/config/load.ts";
import {
  checkProposal,
  PRESETS,
  type Preset,
  resolveProposals,
} from "../../agent/src/config/proposals.ts";
import type { LoadResult } from "../../agent/src/config/types.ts";
import { readFileFacts } from "../../common/config-files.ts";
import { Secret } from "../../common/secret.ts";
import { renderSchema } from "../../scripts/gen-schema.ts";
import {
  GOOD_PSK,
  INVALID_CONFIGS,
  materializeFixture,
  PSK_PATH,
  VALID_EXAMPLE,
  VALID_PSK_FILES,
} from "../fixtures/invalid-configs.ts";
import { makeTestPki } from "../helpers/certs.ts";
import { refusedWith } from "../helpers/refused.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const scratch = () => tempDir(t, "swp-config-");

/** Serves one PSK for every path, as load.ts would after reading a good file. */
const fakePsk =
  (content = `${GOOD_PSK}\n`, mode = 0o100600): FileReader =>
  async () => ({ exists: true, mode, content: new Secret(content) });

/** Every rendering through which a secret could escape. */
function renderings(value: unknown): string {
  return `${JSON.stringify(value)}\n${inspect(value, { depth: Number.POSITIVE_INFINITY, showHidden: true })}`;
}

function mustLoad(r: LoadResult) {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.issues)}`);
  return r;
}

const minimal = (extra: Record<string, unknown> = {}, tunnel: Record<string, unknown> = {}) =>
  stringify({
    appliance: { name: "a1", localAddress: "10.0.0.5" },
    stateDir: "/run/swanpair/a1",
    api: { socket: "/run/swanpair/a1/agent.sock" },
    tunnels: [
      {
        name: "to-b1",
        type: "peer",
        remoteAddress: "198.51.100.20",
        psk: { file: "/etc/swanpair/psk/to-b1" },
        localSubnets: ["10.1.0.0/16"],
        remoteSubnets: ["10.2.0.0/16"],
        ...tunnel,
      },
    ],
    ...extra,
  });

t.test("the documented example loads from disk with its defaults resolved", async (t) => {
  const dir = await scratch();
  const path = await materializeFixture({ yaml: VALID_EXAMPLE, pskFiles: VALID_PSK_FILES }, dir);
  const { config, warnings } = mustLoad(await loadConfigFile(path));
  t.same(warnings, []);
  t.same(config.charon, {
    mode: "child",
    vici: "/run/swanpair/a1/charon.vici",
    binary: "/usr/sbin/charon-systemd",
    pluginDir: "/usr/lib/ipsec/plugins",
    startTimeoutMs: 15000,
  });
  t.equal(config.datapath, "libipsec");
  t.same(config.log, { level: "info" });
  const [tunnel] = config.tunnels;
  if (!tunnel) throw new Error("no tunnel");
  t.equal(tunnel.localId, "a1.example");
  t.equal(tunnel.remoteId, "b1.example");
  t.equal(tunnel.psk.reveal(), GOOD_PSK, "the trailing newline is stripped");
  t.same(tunnel.probe, {
    target: "10.2.0.20",
    source: "10.1.0.10",
    port: 7208,
    intervalMs: 200,
    timeoutMs: 200,
    fall: 3,
    rise: 2,
  });
  t.same(tunnel.ikeProposals, PRESETS.modern.ike);
  t.same(tunnel.espProposals, PRESETS.modern.esp);
  t.equal(tunnel.startAction, "start");
  t.equal(tunnel.dpdDelayS, 10);
  t.notOk("priority" in tunnel || "ifId" in tunnel, "unset optionals stay absent");
  t.notMatch(renderings(config), GOOD_PSK);
});

t.test("identities and the VICI socket default as documented", async (t) => {
  const bare = mustLoad(await loadConfigText(minimal(), fakePsk())).config;
  t.equal(bare.tunnels[0]?.localId, "10.0.0.5", "localId falls back to localAddress");
  t.equal(bare.tunnels[0]?.remoteId, "198.51.100.20", "remoteId defaults to remoteAddress");
  t.equal(bare.charon.vici, "/run/swanpair/a1/charon.vici");

  const withPublic = minimal({
    appliance: { name: "a1", localAddress: "10.0.0.5", publicAddress: "203.0.113.9" },
  });
  const pub = mustLoad(await loadConfigText(withPublic, fakePsk())).config;
  t.equal(pub.tunnels[0]?.localId, "203.0.113.9", "publicAddress wins over localAddress");
});

t.test("subnets come out canonical and the probe timeout is capped at 1 s", async (t) => {
  const text = minimal(
    {},
    {
      localSubnets: ["2001:db8:1:0::/64", "10.1.0.0/16"],
      remoteSubnets: ["2001:db8:2:0:0::/64"],
      probe: { target: "2001:db8:2::1", source: "2001:db8:1::1", intervalMs: 5000 },
    },
  );
  const tunnel = mustLoad(await loadConfigText(text, fakePsk())).config.tunnels[0];
  t.same(tunnel?.localSubnets, ["2001:db8:1::/64", "10.1.0.0/16"]);
  t.same(tunnel?.remoteSubnets, ["2001:db8:2::/64"]);
  t.equal(tunnel?.probe?.timeoutMs, 1000);
});

for (const fixture of INVALID_CONFIGS) {
  t.test(`invalid: ${fixture.name}`, async (t) => {
    const path = await materializeFixture(fixture, await scratch());
    const result = await loadConfigFile(path);
    if (!refusedWith(t, result, fixture) || result.ok) return;
    for (const file of Object.values({ ...fixture.pskFiles, ...fixture.tlsFiles })) {
      t.notMatch(renderings(result), file.content.trim(), "no file content in the issues");
    }
  });
}

t.test("the fixture table covers enough distinct failures", async (t) => {
  const names = new Set(INVALID_CONFIGS.map((f) => f.name));
  t.equal(names.size, INVALID_CONFIGS.length, "names are unique");
  t.ok(INVALID_CONFIGS.length >= 20);
});

t.test("PSK files: CRLF, directories and the stripped newline", async (t) => {
  const crlf = mustLoad(await loadConfigText(minimal(), fakePsk(`${GOOD_PSK}\r\n`)));
  t.equal(crlf.config.tunnels[0]?.psk.reveal(), GOOD_PSK);
  const exact = mustLoad(await loadConfigText(minimal(), fakePsk("0123456789abcdef")));
  t.equal(exact.config.tunnels[0]?.psk.reveal(), "0123456789abcdef", "16 characters is enough");
  const ro = await loadConfigText(minimal(), fakePsk(GOOD_PSK, 0o100400));
  t.ok(ro.ok, "0400 is stricter than 0600 and accepted");

  const dir = await scratch();
  await mkdir(join(dir, "psk", "to-b1"), { recursive: true });
  const path = join(dir, "config.yaml");
  await writeFile(path, VALID_EXAMPLE.replace(PSK_PATH, join(dir, "psk", "to-b1")));
  const result = await loadConfigFile(path);
  t.match(result, {
    ok: false,
    issues: [{ path: "tunnels[0].psk.file", rule: "psk-file", message: /not a regular file/ }],
  });
});

t.test("a network listener resolves to its TLS files' PEM, the key wrapped", async (t) => {
  const dir = await scratch();
  const pki = await makeTestPki(dir);
  const withListen = (tls: Record<string, string>) =>
    minimal({
      api: {
        socket: "/run/swanpair/a1/agent.sock",
        listen: { address: "10.0.0.5", port: 7443, tls },
      },
    });
  const load = (tls: Record<string, string>) =>
    loadConfigText(withListen(tls), async (path, max) =>
      path.endsWith("to-b1") ? fakePsk()(path, max) : readFileFacts(path, max),
    );

  const { config } = mustLoad(await load({ ...pki.server }));
  const key = await readFile(pki.server.key, "utf8");
  t.match(config.api, { socket: "/run/swanpair/a1/agent.sock" });
  t.match(config.api.listen, { address: "10.0.0.5", port: 7443 });
  t.equal(config.api.listen?.tls.ca, await readFile(pki.server.ca, "utf8"));
  t.equal(config.api.listen?.tls.cert, await readFile(pki.server.cert, "utf8"));
  t.equal(config.api.listen?.tls.key.reveal(), key);
  t.notMatch(renderings(config), key.split("\n")[1] as string, "the key never renders");
  t.notOk("listen" in mustLoad(await loadConfigText(minimal(), fakePsk())).config.api);

  await chmod(pki.server.key, 0o400);
  t.ok((await load({ ...pki.server })).ok, "a 0400 key is stricter than 0600 and accepted");

  const cases: [string, Record<string, string>, string, RegExp][] = [
    [
      "a key that is not the certificate's",
      { ...pki.server, key: pki.client.key },
      "api.listen.tls.key",
      /is not the key of the certificate in .*server\.crt/,
    ],
    [
      "a key where the CA should be",
      { ...pki.server, ca: pki.server.key },
      "api.listen.tls.ca",
      /holds no usable PEM certificate/,
    ],
    [
      "a certificate where the key should be",
      { ...pki.server, key: pki.server.cert },
      "api.listen.tls.key",
      /holds no usable PEM private key/,
    ],
  ];
  for (const [name, tls, path, message] of cases) {
    const r = await load(tls);
    t.match(r, { ok: false, issues: [{ path, rule: "tls-pem", message }] }, name);
    t.notMatch(renderings(r), key.split("\n")[1] as string, `${name}: no key in the issues`);
  }

  const world = join(dir, "world-readable.key");
  await copyFile(pki.server.key, world);
  await chmod(world, 0o640);
  t.match(await load({ ...pki.server, key: world }), {
    ok: false,
    issues: [{ path: "api.listen.tls.key", rule: "tls-mode", message: /mode 0640.*chmod 600/ }],
  });
});

t.test("PSK acceptance matches the documented rule, and never leaks", async (t) => {
  const printable = fc.string({ unit: fc.constantFrom(...'ab9Z!#~ "\\\t\u00e9'), maxLength: 24 });
  await fc.assert(
    fc.asyncProperty(printable, async (psk) => {
      const result = await loadConfigText(minimal(), fakePsk(psk));
      const good = psk.length >= 16 && /^[\x21-\x7e]+$/.test(psk) && !/["\\]/.test(psk);
      if (result.ok !== good) return false;
      return psk.length < 4 || !renderings(result).includes(psk);
    }),
  );
  t.pass();
});

t.test("a missing config file is a read error, not an issue list", async (t) => {
  await t.rejects(loadConfigFile("/nonexistent/swanpair.yaml"), { code: "SWP_ERR_CONFIG_READ" });
});

t.test("messages name the problem precisely", async (t) => {
  const cases: [string, string, RegExp][] = [
    [minimal({ tunels: [] }), "tunels", /unknown key "tunels"; did you mean "tunnels"\?/],
    [minimal({ bogus: 1 }), "bogus", /allowed: appliance, datapath/],
    ["appliance:\n  name: a1\n   x: 1\n", "", /^line 2, column 9: Nested mappings/],
    [minimal({ datapath: "xfrm" }), "datapath", /must be "libipsec" or "kernel"/],
    [minimal({}, { dpdDelayS: 1.5 }), "tunnels[0].dpdDelayS", /whole number, not 1\.5/],
    [
      minimal({}, { localSubnets: ["10.1.0.1/16"] }),
      "tunnels[0].localSubnets[0]",
      /did you mean 10\.1\.0\.0\/16/,
    ],
    [
      minimal({}, { remoteSubnets: ["10.1.2.0/24"] }),
      "tunnels[0].remoteSubnets[0]",
      /overlaps localSubnets\[0\] 10\.1\.0\.0\/16/,
    ],
    [
      minimal({}, { remoteSubnets: ["2001:db8::/64"] }),
      "tunnels[0].remoteSubnets",
      /address family/,
    ],
  ];
  for (const [text, path, message] of cases) {
    const r = await loadConfigText(text, fakePsk());
    t.equal(r.ok, false, path);
    if (!r.ok)
      t.ok(
        r.issues.some((i) => i.path === path && message.test(i.message)),
        path,
        { issues: r.issues },
      );
  }
});

t.test("overlapping remote subnets across tunnels warn unless priorities differ", async (t) => {
  const twoTunnels = (p0?: number, p1?: number) => {
    const tunnel = (name: string, remoteAddress: string, priority?: number) => ({
      name,
      type: "peer",
      remoteAddress,
      psk: { file: "/etc/swanpair/psk/x" },
      localSubnets: ["10.1.0.0/16"],
      remoteSubnets: ["10.2.0.0/16"],
      ...(priority !== undefined && { priority }),
    });
    return stringify({
      appliance: { name: "a1", localAddress: "10.0.0.5" },
      stateDir: "/run/swanpair/a1",
      api: { socket: "/run/swanpair/a1/agent.sock" },
      tunnels: [tunnel("to-b1", "198.51.100.20", p0), tunnel("to-b2", "198.51.100.21", p1)],
    });
  };
  const warned = mustLoad(await loadConfigText(twoTunnels(), fakePsk()));
  t.match(warned.warnings, [{ path: "tunnels[1].remoteSubnets[0]", rule: "remote-overlap" }]);
  t.equal(
    mustLoad(await loadConfigText(twoTunnels(5, 5), fakePsk())).warnings.length,
    1,
    "equal priorities still warn",
  );
  t.same(mustLoad(await loadConfigText(twoTunnels(5, 10), fakePsk())).warnings, []);
});

t.test(
  "remote overlaps are found among many tunnels, nested or not, in a stable order",
  async (t) => {
    const tunnel = (i: number, remoteSubnets: string[]) => ({
      name: `t${i}`,
      type: "peer",
      remoteAddress: `198.51.100.${20 + i}`,
      psk: { file: "/etc/swanpair/psk/x" },
      localSubnets: ["10.1.0.0/16"],
      remoteSubnets,
    });
    const text = stringify({
      appliance: { name: "a1", localAddress: "10.0.0.5" },
      stateDir: "/run/swanpair/a1",
      api: { socket: "/run/swanpair/a1/agent.sock" },
      tunnels: [
        tunnel(0, ["10.2.0.0/16"]),
        tunnel(1, ["10.9.0.0/16", "10.2.5.0/24"]),
        tunnel(2, ["10.3.0.0/16", "10.2.5.128/25"]),
        tunnel(3, ["10.4.0.0/16"]),
      ],
    });
    const warnings = mustLoad(await loadConfigText(text, fakePsk())).warnings;
    t.same(
      warnings.map((w) => [
        w.path,
        /overlaps (tunnels\[\d\]\.remoteSubnets\[\d\])/.exec(w.message)?.[1],
      ]),
      [
        ["tunnels[1].remoteSubnets[1]", "tunnels[0].remoteSubnets[0]"],
        ["tunnels[2].remoteSubnets[1]", "tunnels[0].remoteSubnets[0]"],
        ["tunnels[2].remoteSubnets[1]", "tunnels[1].remoteSubnets[1]"],
      ],
    );
  },
);

t.test("proposals", async (t) => {
  t.test("presets are free of weak, unknown or incomplete proposals", async (t) => {
    for (const preset of Object.keys(PRESETS) as Preset[]) {
      const r = resolveProposals({ preset, allowWeak: false });
      t.same(r.problems, [], preset);
      t.same(r.ike, PRESETS[preset].ike);
    }
  });

  t.test("explicit lists replace the preset", async (t) => {
    const r = resolveProposals({ preset: "modern", esp: ["aes128gcm16-ecp256"], allowWeak: false });
    t.same(r.esp, ["aes128gcm16-ecp256"]);
    t.same(r.ike, PRESETS.modern.ike);
  });

  const table: [string, "ike" | "esp", string, string[]][] = [
    ["good IKE AEAD", "ike", "aes256gcm16-prfsha384-x25519", []],
    ["good IKE classic", "ike", "aes128-sha256-modp2048", []],
    ["good ESP without PFS", "esp", "aes256gcm16-none", []],
    ["good ESP with ESN", "esp", "chacha20poly1305-ecp384-esn", []],
    ["strongSwan 6 additional KE", "ike", "aes256gcm16-prfsha384-x25519-ke1_mlkem768", []],
    ["3DES", "esp", "3des-sha256", ["weak-proposal"]],
    ["SHA-1 and MODP-1024", "ike", "aes256-sha1-modp1024", ["weak-proposal", "weak-proposal"]],
    ["weak additional KE", "ike", "aes256gcm16-prfsha384-x25519-ke1_modp1536", ["weak-proposal"]],
    ["ecp192", "ike", "aes256gcm16-prfsha256-ecp192", ["weak-proposal"]],
    ["GMAC only", "esp", "aes256gmac", ["weak-proposal"]],
    ["null cipher", "esp", "null-sha256", ["weak-proposal"]],
    ["unknown keyword", "ike", "aes256-sha256-modp2047", ["proposal-keyword"]],
    ["IKE without key exchange", "ike", "aes256-sha256", ["proposal-incomplete"]],
    ["IKE with none only", "ike", "aes256-sha256-none", ["proposal-incomplete"]],
    ["AEAD and classic mixed", "esp", "aes256gcm16-aes256-sha256", ["proposal-incomplete"]],
    ["no cipher", "esp", "sha256-modp2048", ["proposal-incomplete"]],
    ["classic ESP without integrity", "esp", "aes256-modp2048", ["proposal-incomplete"]],
  ];
  for (const [name, protocol, proposal, rules] of table) {
    t.same(
      checkProposal(protocol, proposal, false).map((p) => p.rule),
      rules,
      name,
    );
  }

  t.test("the weak error names the proposal and the token; allowWeak lifts it", async (t) => {
    const [problem] = checkProposal("ike", "aes256-sha256-modp1024", false);
    t.match(problem?.message, /"aes256-sha256-modp1024": "modp1024" is weak/);
    t.same(checkProposal("ike", "aes256-sha256-modp1024", true), []);
    t.same(
      checkProposal("ike", "aes256-sha256", true).map((p) => p.rule),
      ["proposal-incomplete"],
      "allowWeak does not excuse an incomplete proposal",
    );
  });
});

t.test("issue formatting", async (t) => {
  const issue = { path: "tunnels[0].name", rule: "format", message: "must start with a letter" };
  t.equal(
    formatIssue("a1.yaml", issue),
    "a1.yaml: tunnels[0].name: must start with a letter [format]",
  );
  t.equal(
    formatIssue("a1.yaml", { path: "", rule: "yaml", message: "line 1, column 2: bad" }),
    "a1.yaml: line 1, column 2: bad [yaml]",
  );
  t.equal(
    formatIssue("a1.yaml", issue, "warning"),
    "a1.yaml: tunnels[0].name: warning: must start with a letter [format]",
  );
  const warning = { path: "tunnels[1].remoteSubnets[0]", rule: "remote-overlap", message: "w" };
  const failed: LoadResult = { ok: false, issues: [issue], warnings: [warning] };
  t.same(
    formatLoadResult("a1.yaml", failed),
    [formatIssue("a1.yaml", issue), formatIssue("a1.yaml", warning, "warning")],
    "a refused config's warnings are shown with its errors",
  );
  t.same(issueReport("a1.yaml", failed), {
    file: "a1.yaml",
    ok: false,
    errors: [issue],
    warnings: [warning],
  });
  const loaded = mustLoad(await loadConfigText(minimal(), fakePsk()));
  t.notMatch(JSON.stringify(issueReport("a1.yaml", loaded)), GOOD_PSK);
});

t.test("docs/agent-config.schema.json is current", async (t) => {
  const onDisk = await readFile(
    new URL("../../docs/agent-config.schema.json", import.meta.url),
    "utf8",
  );
  t.equal(onDisk, renderSchema(), "run: node scripts/gen-schema.ts");
  t.equal(renderSchema(), renderSchema(), "deterministic");
});
