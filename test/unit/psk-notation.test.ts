import { randomBytes } from "node:crypto";
import { inspect } from "node:util";
import t from "tap";
import { stringify } from "yaml";
import { type CharonPort, Reconciler } from "../../agent/src/apply/reconciler.ts";
import { type FileReader, loadConfigText } from "../../agent/src/config/load.ts";
import type { LoadResult, ResolvedConfig } from "../../agent/src/config/types.ts";
import { PSK_MIN_LENGTH } from "../../agent/src/config/verify.ts";
import { keyBytes } from "../../agent/src/render/connections.ts";
import { renderAll } from "../../agent/src/render/index.ts";
import type { ViciClient } from "../../agent/src/vici/client.ts";
import { encodeMessage } from "../../agent/src/vici/codec.ts";
import * as vici from "../../agent/src/vici/commands.ts";
import type { ViciMessage } from "../../agent/src/vici/message.ts";
import { createLogger } from "../../common/logger.ts";
import { Secret } from "../../common/secret.ts";
import { baseTree, GOOD_PSK } from "../fixtures/invalid-configs.ts";

/**
 * PSK files in strongSwan's notation: "0x" + hex and "0s" + base64 stand for the decoded
 * bytes, as swanctl.conf and ipsec.secrets read them; any other text is the key itself.
 */

const PSK_FILE = "/etc/swanpair/psk/to-b1";

/** 16 random bytes with a NUL, a line break, a quote, a backslash, DEL and 0xff among them. */
function binaryKey(length = 16): Buffer {
  const key = randomBytes(length);
  Buffer.from([0x00, 0x0a, 0x22, 0x5c, 0x7f, 0xff]).copy(key, 3);
  return key;
}

const KEY = binaryKey();
const HEX = KEY.toString("hex");
const B64 = KEY.toString("base64");
/** 18 bytes: base64 without padding. */
const KEY18 = binaryKey(18);

/** The base64 of KEY with its last data character's unused low bits set. */
function nonCanonical(b64: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const at = b64.indexOf("=") - 1;
  const next = alphabet[alphabet.indexOf(b64[at] as string) + 1] as string;
  return `${b64.slice(0, at)}${next}${b64.slice(at + 1)}`;
}

function configText(): string {
  const tree = baseTree();
  tree.tunnels[0].psk.file = PSK_FILE;
  return stringify(tree);
}

function load(content: string, mode = 0o100600): Promise<LoadResult> {
  const reader: FileReader = async () => ({ exists: true, mode, content: new Secret(content) });
  return loadConfigText(configText(), reader);
}

function mustLoad(r: LoadResult): ResolvedConfig {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.issues)}`);
  return r.config;
}

function pskOf(config: ResolvedConfig): Buffer {
  const tunnel = config.tunnels[0];
  if (!tunnel) throw new Error("no tunnel");
  return keyBytes(tunnel.psk);
}

/** Every way a result could be shown: JSON, and inspect with hidden fields. */
function renderings(value: unknown): string {
  return `${JSON.stringify(value)}\n${inspect(value, { depth: Number.POSITIVE_INFINITY, showHidden: true })}`;
}

/** Every 8-character run of the key's text: no part of the key may show. */
function pieces(text: string): string[] {
  const body = text.slice(2).trim();
  if (body.length < 8) return [body].filter((p) => p !== "");
  return Array.from({ length: body.length - 7 }, (_, i) => body.slice(i, i + 8));
}

interface Accepted {
  name: string;
  content: string;
  bytes: Buffer;
}

const accepted: Accepted[] = [
  { name: "0x + 32 hex digits", content: `0x${HEX}\n`, bytes: KEY },
  { name: "0X + upper-case hex", content: `0X${HEX.toUpperCase()}`, bytes: KEY },
  { name: "0s + base64 of 16 binary bytes", content: `0s${B64}\n`, bytes: KEY },
  { name: "0S prefix, CRLF", content: `0S${B64}\r\n`, bytes: KEY },
  {
    name: "0s + base64 that needs no padding",
    content: `0s${KEY18.toString("base64")}`,
    bytes: KEY18,
  },
  {
    name: "a long 0x key",
    content: `0x${"ab".repeat(64)}`,
    bytes: Buffer.from("ab".repeat(64), "hex"),
  },
];

t.test("0x and 0s keys load as their decoded bytes", async (t) => {
  for (const c of accepted) {
    const result = await load(c.content);
    t.ok(result.ok, c.name, { issues: result.ok ? [] : result.issues });
    if (!result.ok) continue;
    t.same(pskOf(result.config), c.bytes, `${c.name}: the decoded bytes`);
    const shown = renderings(result);
    for (const piece of [...pieces(c.content), c.bytes.toString("hex")]) {
      t.notOk(shown.includes(piece), `${c.name}: the key does not show in the loaded config`);
    }
  }
});

interface Refused {
  name: string;
  content: string;
  rule: string;
  message: RegExp;
}

const refused: Refused[] = [
  { name: "0x alone", content: "0x\n", rule: "psk-hex", message: /nothing follows 0x/ },
  {
    name: "0x with an odd digit count",
    content: `0x${HEX.slice(1)}`,
    rule: "psk-hex",
    message: /odd number of hex digits \(31\)/,
  },
  {
    name: "0x with a non-hex letter",
    content: `0x${HEX.slice(0, 10)}g${HEX.slice(11)}`,
    rule: "psk-hex",
    message: /a character that is not a hex digit at position 13/,
  },
  {
    name: "0x with colon separators",
    content: `0x${HEX.slice(0, 2)}:${HEX.slice(2)}`,
    rule: "psk-hex",
    message: /a colon at position 5; write the digits without separators/,
  },
  {
    name: "0x with a trailing space",
    content: `0x${HEX} \n`,
    rule: "psk-hex",
    message: /a space at position 35/,
  },
  {
    name: "0x with a second line",
    content: `0x${HEX}\n\n`,
    rule: "psk-hex",
    message: /a line break at position 35/,
  },
  {
    name: "0x decoding to 15 bytes",
    content: `0x${HEX.slice(0, 30)}`,
    rule: "psk-length",
    message: /is 15 bytes once decoded; at least 16 are needed/,
  },
  { name: "0s alone", content: "0s", rule: "psk-base64", message: /nothing follows 0s/ },
  {
    name: "0s with a character outside base64",
    content: `0s${B64.slice(0, 5)}!${B64.slice(6)}`,
    rule: "psk-base64",
    message: /a character outside the base64 alphabet \(A-Z a-z 0-9 \+ \/\) at position 8/,
  },
  {
    name: "0s in URL-safe base64",
    content: `0s${"-_".repeat(12)}`,
    rule: "psk-base64",
    message: /outside the base64 alphabet .* at position 3/,
  },
  {
    name: "0s without its padding",
    content: `0s${B64.replace(/=+$/, "")}`,
    rule: "psk-base64",
    message: /22 characters after 0s, not a multiple of 4/,
  },
  {
    name: "0s with padding in the middle",
    content: `0sQUJD=UVG${B64}`,
    rule: "psk-base64",
    message: /"=" at position 7; padding may only end the value/,
  },
  {
    name: "0s with three padding characters",
    content: `0s${B64.replace(/=+$/, "")}A===`,
    rule: "psk-base64",
    message: /padding may only end the value, at most twice/,
  },
  {
    name: "0s with unused bits set",
    content: `0s${nonCanonical(B64)}`,
    rule: "psk-base64",
    message: /not canonical base64/,
  },
  {
    name: "0s decoding to 15 bytes",
    content: `0s${binaryKey(15).toString("base64")}`,
    rule: "psk-length",
    message: /is 15 bytes once decoded/,
  },
];

t.test("malformed or short 0x/0s keys are refused with their own rule", async (t) => {
  for (const c of refused) {
    const result = await load(c.content);
    t.notOk(result.ok, `${c.name}: refused`);
    if (result.ok) continue;
    t.equal(result.issues.length, 1, `${c.name}: one issue`);
    t.match(
      result.issues[0],
      { path: "tunnels[0].psk.file", rule: c.rule, message: c.message },
      `${c.name}: [${c.rule}]`,
    );
    t.match(result.issues[0]?.message, `the PSK in ${PSK_FILE}`, `${c.name}: names the file`);
    const shown = renderings(result);
    for (const piece of pieces(c.content)) {
      t.notOk(shown.includes(piece), `${c.name}: no part of the key in the issues`);
    }
  }
});

t.test("the mode rule still applies to a key in notation", async (t) => {
  const result = await load(`0x${HEX}`, 0o100644);
  t.match(result, { ok: false, issues: [{ rule: "psk-mode" }] });
  if (!result.ok) t.equal(result.issues.length, 1);
});

t.test("plain keys keep their rules and stay text", async (t) => {
  const plain = mustLoad(await load(`${GOOD_PSK}\n`));
  t.equal(plain.tunnels[0]?.psk.reveal(), GOOD_PSK, "the text itself");
  const inner = mustLoad(await load("key-0xdeadbeef-0sQUFB"));
  t.equal(inner.tunnels[0]?.psk.reveal(), "key-0xdeadbeef-0sQUFB", "0x/0s inside is text");
  t.match(await load("Qz7!shortkey"), {
    ok: false,
    issues: [{ rule: "psk-length", message: /shorter than 16 characters/ }],
  });
  t.match(await load("Qz7!long enough but spaced"), {
    ok: false,
    issues: [{ rule: "psk-charset" }],
  });
  t.equal(PSK_MIN_LENGTH, 16);
});

t.test("swanctl.conf and VICI carry the decoded bytes of a 0s key", async (t) => {
  const config = mustLoad(await load(`0s${B64}\n`));
  const rendered = renderAll(config, { redactSecrets: false });
  t.match(rendered.swanctlConf, new RegExp(`^\\s*secret = 0x${HEX}$`, "m"), "swanctl.conf");
  t.notOk(rendered.swanctlConf.includes(B64), "not the base64 text");
  const hexOfText = Buffer.from(`0s${B64}`).toString("hex");
  t.notOk(rendered.swanctlConf.includes(hexOfText), "nor the hex of the text");

  const redacted = renderAll(config, { redactSecrets: true });
  t.notOk(redacted.swanctlConf.includes(HEX), "render (stdout) still shows no key");
  t.notOk(renderings(redacted).includes(HEX), "nor does the rendered object");

  // The path apply takes: reconciler → VICI command → wire encoding.
  const sent: ViciMessage[] = [];
  const client = {
    call: async (command: string, message: ViciMessage) => {
      if (command === "load-shared") sent.push(message);
      return {};
    },
  } as unknown as ViciClient;
  const port: CharonPort = {
    getConns: async () => [],
    getShared: async () => [],
    loadConns: async () => {},
    unloadConn: async () => {},
    loadShared: (secret) => vici.loadShared(client, secret),
    unloadShared: async () => {},
  };
  await new Reconciler(createLogger({ name: "test", level: "silent" })).apply(port, {
    connections: rendered.connections,
    secrets: rendered.secrets,
  });
  t.equal(sent.length, 1, "one load-shared");
  // KEY_VALUE (3), name length, "data", 16-bit value length, value.
  const element = Buffer.concat([Buffer.from([3, 4]), Buffer.from("data"), Buffer.from([0, 16])]);
  const wire = Buffer.from(encodeMessage(sent[0] as ViciMessage));
  t.ok(wire.includes(Buffer.concat([element, KEY])), "the VICI message carries the decoded bytes");
});

t.test("a changed key reloads the secret; the same bytes in another notation do not", async (t) => {
  const loads: Buffer[] = [];
  const port: CharonPort = {
    getConns: async () => ["to-b1"],
    getShared: async () => ["psk-to-b1"],
    loadConns: async () => {},
    unloadConn: async () => {},
    loadShared: async (secret) => {
      loads.push(Buffer.from(secret.data));
    },
    unloadShared: async () => {},
  };
  const reconciler = new Reconciler(createLogger({ name: "test", level: "silent" }));
  const apply = async (content: string) => {
    const { connections, secrets } = renderAll(mustLoad(await load(content)), {
      redactSecrets: false,
    });
    return (await reconciler.apply(port, { connections, secrets })).plan.loadSecrets;
  };
  t.same(await apply(`0s${B64}`), ["psk-to-b1"], "first load");
  t.same(await apply(`0x${HEX}`), [], "the same bytes in hex: unchanged");
  const other = binaryKey();
  t.same(await apply(`0s${other.toString("base64")}`), ["psk-to-b1"], "a new key: reloaded");
  t.same(loads, [KEY, other]);

  const text = "a-plain-text-key-0123";
  t.same(await apply(text), ["psk-to-b1"], "plain text key");
  t.same(await apply(`0x${Buffer.from(text).toString("hex")}`), [], "its bytes in hex: same key");
});
