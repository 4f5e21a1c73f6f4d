import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import t from "tap";
import { stringify } from "yaml";
import { type FileReader, loadConfigText } from "../../agent/src/config/load.ts";
import type { LoadResult } from "../../agent/src/config/types.ts";
import type {
  ParameterFacts,
  ParameterFetcher,
  SsmSettings,
} from "../../agent/src/keys/parameters.ts";
import { keyBytes } from "../../agent/src/render/connections.ts";
import { Secret } from "../../common/secret.ts";
import { GOOD_PSK } from "../fixtures/invalid-configs.ts";
import { refusedWith } from "../helpers/refused.ts";

/**
 * Keys from SSM Parameter Store in the agent's loader, with the fetch replaced by a table: the
 * loader asks for exactly the names the config gives (once each), only when the config says
 * where, and the fetched keys pass the same rules as PSK files; every refusal names the field.
 */

const SSM = { region: "eu-west-1", endpoint: "http://127.0.0.1:5000" };
const KEY = randomBytes(32);
const KEY_TEXT = `0s${KEY.toString("base64")}`;

/** Two tunnels; each psk is given by the caller; `ssm: null` leaves the section out. */
function configText(psks: [unknown, unknown], ssm: unknown = SSM): string {
  const tunnel = (name: string, n: number, psk: unknown) => ({
    name,
    type: "peer",
    remoteAddress: `198.51.100.${20 + n}`,
    psk,
    localSubnets: ["10.1.0.0/16"],
    remoteSubnets: [`10.${2 + n}.0.0/16`],
  });
  return stringify({
    appliance: { name: "a1", localAddress: "198.51.100.10" },
    stateDir: "/run/swanpair/a1",
    api: { socket: "/run/swanpair/a1/agent.sock" },
    ...(ssm !== null && { ssm }),
    tunnels: [tunnel("b1", 0, psks[0]), tunnel("b2", 1, psks[1])],
  });
}

const secure = (value: string): ParameterFacts => ({
  found: true,
  type: "SecureString",
  value: new Secret(value),
});

/** A fetcher serving `table`, recording each call. */
function fetcher(table: Record<string, ParameterFacts>) {
  const calls: Array<{ ssm: SsmSettings; names: readonly string[] }> = [];
  const fetch: ParameterFetcher = async (ssm, names) => {
    calls.push({ ssm, names });
    return new Map(
      names.map((n) => [n, table[n] ?? { found: false, reason: "does not exist" }] as const),
    );
  };
  return { fetch, calls };
}

const noFiles: FileReader = async () => {
  throw new Error("no file should be read");
};
const goodFile: FileReader = async () => ({
  exists: true,
  mode: 0o100600,
  content: new Secret(`${GOOD_PSK}\n`),
});

function mustLoad(r: LoadResult) {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.issues)}`);
  return r.config;
}

/** Every rendering through which a secret could escape. */
function renderings(value: unknown): string {
  return `${JSON.stringify(value)}\n${inspect(value, { depth: Number.POSITIVE_INFINITY, showHidden: true })}`;
}

t.test("keys come from SSM: one fetch of the distinct names, decoded as from a file", async (t) => {
  const { fetch, calls } = fetcher({ "/swanpair/prod/psk/a1/b1": secure(KEY_TEXT) });
  const name = "/swanpair/prod/psk/a1/b1";
  const config = mustLoad(
    await loadConfigText(configText([{ ssm: name }, { ssm: name }]), noFiles, fetch),
  );
  t.same(calls, [{ ssm: SSM, names: [name] }], "asked once, for the one name, with the section");
  for (const tunnel of config.tunnels) {
    t.same(keyBytes(tunnel.psk), KEY, `${tunnel.name} gets the decoded bytes of the 0s key`);
  }
  t.notOk(renderings(config).includes(KEY.toString("base64")), "no rendering shows the key");
  t.notOk(renderings(config).includes(KEY.toString("hex")), "nor its hex");
});

t.test(
  "a file key and an SSM key side by side; a config without SSM fetches nothing",
  async (t) => {
    const { fetch, calls } = fetcher({ k: secure(KEY_TEXT) });
    const mixed = await loadConfigText(
      configText([{ file: "/etc/swanpair/psk/b1" }, { ssm: "k" }]),
      goodFile,
      fetch,
    );
    const [b1, b2] = mustLoad(mixed).tunnels;
    t.equal(b1?.psk.reveal(), GOOD_PSK);
    t.same(b2 && keyBytes(b2.psk), KEY);
    t.same(
      calls.map((c) => c.names),
      [["k"]],
    );

    const files = fetcher({});
    const plain = configText([{ file: "/etc/swanpair/psk/b1" }, { file: "/etc/swanpair/psk/b2" }]);
    mustLoad(await loadConfigText(plain, goodFile, files.fetch));
    t.same(files.calls, [], "file keys only: SSM is never asked, even with an ssm section");
  },
);

t.test("psk.ssm without the ssm section is an error at ssm, and nothing is fetched", async (t) => {
  const { fetch, calls } = fetcher({ k: secure(KEY_TEXT) });
  const r = await loadConfigText(configText([{ ssm: "k" }, { ssm: "k" }], null), noFiles, fetch);
  const issues = refusedWith(t, r, { expectPath: "ssm", expectRule: "required" });
  t.equal(issues?.length, 1, "reported once, not per tunnel");
  t.match(issues?.[0]?.message, /tunnels\[0\]\.psk\.ssm/, "names the first tunnel that needs it");
  t.same(calls, []);
});

t.test("a tunnel gives exactly one of file and ssm", async (t) => {
  const { fetch } = fetcher({ k: secure(KEY_TEXT) });
  const both = { file: "/etc/swanpair/psk/b1", ssm: "k" };
  refusedWith(t, await loadConfigText(configText([both, { ssm: "k" }]), goodFile, fetch), {
    expectPath: "tunnels[0].psk",
    expectRule: "psk-source",
  });
  refusedWith(t, await loadConfigText(configText([{}, { ssm: "k" }]), goodFile, fetch), {
    expectPath: "tunnels[0].psk",
    expectRule: "required",
  });
});

t.test("a parameter SSM could not give is an error at its field, with SSM's reason", async (t) => {
  const reason = "cannot be read: access denied; the agent's credentials need ssm:GetParameters";
  const { fetch } = fetcher({
    ok: secure(KEY_TEXT),
    denied: { found: false, reason },
  });
  const missing = await loadConfigText(
    configText([{ ssm: "ok" }, { ssm: "gone" }]),
    noFiles,
    fetch,
  );
  const issues = refusedWith(t, missing, {
    expectPath: "tunnels[1].psk.ssm",
    expectRule: "psk-ssm",
  });
  t.match(issues?.[0]?.message, "SSM parameter gone does not exist");

  const denied = await loadConfigText(
    configText([{ ssm: "denied" }, { ssm: "ok" }]),
    noFiles,
    fetch,
  );
  const why = refusedWith(t, denied, { expectPath: "tunnels[0].psk.ssm", expectRule: "psk-ssm" });
  t.equal(why?.[0]?.message, `SSM parameter denied ${reason}`);
  t.notOk("config" in denied, "no config, so nothing half-valid can be applied");
});

t.test("a key stored unencrypted (String, StringList) is refused", async (t) => {
  for (const type of ["String", "StringList"]) {
    const { fetch } = fetcher({ k: { found: true, type, value: new Secret(KEY_TEXT) } });
    const r = await loadConfigText(configText([{ ssm: "k" }, { ssm: "k" }]), noFiles, fetch);
    const issues = refusedWith(t, r, { expectPath: "tunnels[0].psk.ssm", expectRule: "psk-ssm" });
    t.match(issues?.[0]?.message, `is a ${type}, stored unencrypted; a key must be a SecureString`);
  }
});

t.test("SSM keys pass the PSK file rules, and no message shows any part of them", async (t) => {
  const cases: Array<[string, string, string]> = [
    ["short plain key", "short-key-12345", "psk-length"],
    ["15 bytes in 0x", `0x${randomBytes(15).toString("hex")}`, "psk-length"],
    ["odd hex", `0x${randomBytes(20).toString("hex")}a`, "psk-hex"],
    ["unpadded base64", `0s${randomBytes(20).toString("base64").replace(/=+$/, "")}`, "psk-base64"],
    ["a space", "correct horse battery staple", "psk-charset"],
  ];
  for (const [label, value, rule] of cases) {
    const { fetch } = fetcher({ "/p/k": secure(value) });
    const r = await loadConfigText(configText([{ ssm: "/p/k" }, { ssm: "/p/k" }]), noFiles, fetch);
    const issues = refusedWith(t, r, { expectPath: "tunnels[0].psk.ssm", expectRule: rule });
    const text = JSON.stringify(issues);
    t.match(text, "the PSK in SSM parameter /p/k", `${label}: names the parameter`);
    const body = value.replace(/^0[xs]/, "");
    const leaks = Array.from({ length: body.length - 5 }, (_, i) => body.slice(i, i + 6)).filter(
      (piece) => text.includes(piece),
    );
    t.same(leaks, [], `${label}: no 6-character run of the key in the issues`);
  }
  // The same text a file may hold is accepted the same way, trailing line break included.
  const { fetch } = fetcher({ "/p/k": secure(`${GOOD_PSK}\n`) });
  const ok = await loadConfigText(configText([{ ssm: "/p/k" }, { ssm: "/p/k" }]), noFiles, fetch);
  t.equal(mustLoad(ok).tunnels[0]?.psk.reveal(), GOOD_PSK);
});

t.test("names and the section are checked for shape before anything is fetched", async (t) => {
  const { fetch, calls } = fetcher({});
  for (const [psk, ssm, path, rule] of [
    [{ ssm: "psk/a1/b1" }, SSM, "tunnels[0].psk.ssm", "format"],
    [{ ssm: "/psk//b1" }, SSM, "tunnels[0].psk.ssm", "format"],
    [{ ssm: "/psk/a1 b1" }, SSM, "tunnels[0].psk.ssm", "format"],
    [{ ssm: "/k" }, { region: "Europe" }, "ssm.region", "format"],
    [{ ssm: "/k" }, { region: "eu-west-1", endpoint: "ftp://x" }, "ssm.endpoint", "format"],
    [{ ssm: "/k", keyId: "x" }, SSM, "tunnels[0].psk.keyId", "unknown-key"],
  ] as const) {
    const r = await loadConfigText(configText([psk, { ssm: "/k" }], ssm), noFiles, fetch);
    refusedWith(t, r, { expectPath: path, expectRule: rule });
  }
  t.same(calls, [], "a config with shape errors fetches nothing");
});
