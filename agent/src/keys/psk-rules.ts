import { Secret } from "../../../common/secret.ts";

/**
 * The rules every pre-shared key passes, wherever it was read from (a PSK file, an SSM
 * parameter): strongSwan's 0x/0s notation decoded, a minimum length, a printable charset for
 * plain keys. Pure. Messages name where the key came from, never any part of the key.
 */

export const PSK_MIN_LENGTH = 16;

/** Where the rules report; the config loaders' sinks have this shape. */
export interface PskSink {
  error(path: string, rule: string, message: string): void;
}

/**
 * The key `text` stands for, or undefined after reporting why it is refused. `at` is the field
 * path, `source` names where the key was read, e.g. "/etc/swanpair/psk/to-b1" or "SSM parameter
 * /swanpair/prod/psk/a1/b1". One trailing "\n" or "\r\n" is stripped, since editors add one.
 */
export function checkPskText(
  at: string,
  source: string,
  text: string,
  sink: PskSink,
): Secret<string | Uint8Array> | undefined {
  const value = text.replace(/\r?\n$/, "");
  const decoded = decodePskNotation(value);
  if (decoded && "problem" in decoded) {
    sink.error(at, decoded.rule, `the PSK in ${source} ${decoded.problem}`);
    return undefined;
  }
  if (decoded) {
    const n = decoded.bytes.length;
    if (n >= PSK_MIN_LENGTH) return new Secret<Uint8Array>(decoded.bytes);
    sink.error(
      at,
      "psk-length",
      `the PSK in ${source} is ${n} bytes once decoded; at least ${PSK_MIN_LENGTH} are needed`,
    );
    return undefined;
  }
  let ok = true;
  if (value.length < PSK_MIN_LENGTH) {
    sink.error(
      at,
      "psk-length",
      `the PSK in ${source} is shorter than ${PSK_MIN_LENGTH} characters`,
    );
    ok = false;
  }
  const bad = /[^\x21-\x7e]|["\\]/.exec(value);
  if (bad) {
    sink.error(
      at,
      "psk-charset",
      `the PSK in ${source} has ${describeChar(bad[0])} at position ${bad.index + 1}; only printable ASCII without spaces, quotes or backslashes is allowed`,
    );
    ok = false;
  }
  return ok ? new Secret(value) : undefined;
}

type Decoded = { bytes: Buffer } | { rule: "psk-hex" | "psk-base64"; problem: string };

/**
 * strongSwan's notation for binary secrets (swanctl.conf, ipsec.secrets): "0x" then hex, or
 * "0s" then base64, the prefix in any case; undefined for a plain key. Stricter than
 * strongSwan, which reads an odd digit count, a stray character or a cut-off base64 value
 * as some other key without a word. Problems give a position and a kind, never a character.
 */
function decodePskNotation(value: string): Decoded | undefined {
  const prefix = value.slice(0, 2).toLowerCase();
  if (prefix !== "0x" && prefix !== "0s") return undefined;
  const body = value.slice(2);
  const rule = prefix === "0x" ? "psk-hex" : "psk-base64";
  const fail = (problem: string): Decoded => ({
    rule,
    problem: `starts with ${prefix}, so it is read as ${rule.slice(4)}, but ${problem}`,
  });
  const at = (i: number) => `at position ${i + 3}`;
  if (body === "") return fail(`nothing follows ${prefix}`);
  if (rule === "psk-hex") {
    const bad = /[^0-9a-f]/i.exec(body);
    if (bad?.[0] === ":")
      return fail(`it has a colon ${at(bad.index)}; write the digits without separators`);
    if (bad)
      return fail(
        `it has ${strayChar(bad[0], "a character that is not a hex digit")} ${at(bad.index)}`,
      );
    if (body.length % 2 === 1)
      return fail(`it has an odd number of hex digits (${body.length}); each byte takes two`);
    return { bytes: Buffer.from(body, "hex") };
  }
  const bad = /[^A-Za-z0-9+/=]/.exec(body);
  if (bad)
    return fail(
      `it has ${strayChar(bad[0], "a character outside the base64 alphabet (A-Z a-z 0-9 + /)")} ${at(bad.index)}`,
    );
  const pad = body.indexOf("=");
  if (pad >= 0 && !/^={1,2}$/.test(body.slice(pad)))
    return fail(`it has "=" ${at(pad)}; padding may only end the value, at most twice`);
  if (body.length % 4 !== 0)
    return fail(
      `it has ${body.length} characters after 0s, not a multiple of 4: "=" padding is missing or the value is cut short`,
    );
  const bytes = Buffer.from(body, "base64");
  // Only a last character with bits that no byte uses can still differ here.
  if (bytes.toString("base64") !== body)
    return fail(
      `its last character before the padding is not canonical base64 (it sets bits no byte uses)`,
    );
  return { bytes };
}

/** describeChar for any character; `printable` names a printable ASCII one by its role. */
function strayChar(c: string, printable: string): string {
  return /[\x21-\x7e]/.test(c) && !/["\\]/.test(c) ? printable : describeChar(c);
}

/** Names the offending character without echoing any part of the secret that is allowed. */
function describeChar(c: string): string {
  if (c === " ") return "a space";
  if (c === '"') return "a double quote";
  if (c === "\\") return "a backslash";
  if (c === "\n" || c === "\r") return "a line break";
  if (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f) return "a control character";
  return "a non-ASCII character";
}
