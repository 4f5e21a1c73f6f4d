import { constants } from "node:fs";
import { type FileHandle, open, readFile } from "node:fs/promises";
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import { SwpError } from "../../../common/errors.ts";
import { Secret } from "../../../common/secret.ts";
import { configSchema } from "./schema.ts";
import type { ConfigIssue, LoadResult } from "./types.ts";
import { type PskFacts, verifyConfig } from "./verify.ts";

/**
 * The imperative shell around verify.ts: YAML text to zod output to PSK file facts to a
 * ResolvedConfig. Any issue at any stage yields ok:false and no config.
 */

export type PskReader = (path: string) => Promise<PskFacts>;

/** A PSK is a line of text; anything larger is the wrong file, and is not read into memory. */
export const PSK_FILE_MAX_BYTES = 4096;

/** Throws SwpError SWP_ERR_CONFIG_READ when the config file itself cannot be read. */
export async function loadConfigFile(path: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new SwpError(
      "SWP_ERR_CONFIG_READ",
      `cannot read ${path}: ${errnoText(err)}`,
      { path },
      {
        cause: err,
      },
    );
  }
  return loadConfigText(text);
}

/** Loads config text; readPsk is injectable so tests need not touch the disk. */
export async function loadConfigText(
  text: string,
  readPsk: PskReader = readPskFile,
): Promise<LoadResult> {
  const yaml = parseYaml(text);
  if (!yaml.ok) return yaml;
  const parsed = configSchema.safeParse(yaml.data, { reportInput: true });
  if (!parsed.success) return { ok: false, issues: parsed.error.issues.flatMap(fromZod) };
  const files = [...new Set(parsed.data.tunnels.map((t) => t.psk.file))];
  const facts = await Promise.all(files.map(async (f) => [f, await readPsk(f)] as const));
  return verifyConfig(parsed.data, new Map(facts));
}

/** Stats through the open descriptor so the mode checked is that of the bytes read. */
export async function readPskFile(path: string): Promise<PskFacts> {
  let fh: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO by mistake must not hang the agent.
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return { exists: false };
    return { exists: true, readError: errnoText(err) };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { exists: true, readError: "not a regular file" };
    if (st.size > PSK_FILE_MAX_BYTES) {
      return { exists: true, readError: `${st.size} bytes; a PSK file holds one key` };
    }
    // latin1 maps each byte to one character, so the charset check sees every stray byte.
    const content = new Secret((await fh.readFile()).toString("latin1"));
    return { exists: true, mode: st.mode, content };
  } catch (err) {
    return { exists: true, readError: errnoText(err) };
  } finally {
    await fh.close();
  }
}

type YamlResult = { ok: true; data: unknown } | { ok: false; issues: ConfigIssue[] };

function parseYaml(text: string): YamlResult {
  const lines = new LineCounter();
  // Duplicate keys are found below instead, so they can be reported with their field path.
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false });
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `line ${line}, column ${col}`;
  };
  const issues: ConfigIssue[] = [...doc.errors, ...doc.warnings].map((e) => ({
    path: "",
    rule: "yaml",
    message: `${at(e.pos[0])}: ${e.message}`,
  }));
  if (issues.length === 0) duplicateKeys(doc.contents, [], at, issues);
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, data: doc.toJS() };
}

function duplicateKeys(
  node: unknown,
  path: PropertyKey[],
  at: (offset: number) => string,
  out: ConfigIssue[],
): void {
  if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) duplicateKeys(item, [...path, i], at, out);
  }
  if (!isMap(node)) return;
  const seen = new Set<string>();
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    const keyPath = [...path, key];
    if (seen.has(key)) {
      const offset = isScalar(pair.key) ? (pair.key.range?.[0] ?? 0) : 0;
      out.push({
        path: formatPath(keyPath),
        rule: "duplicate-key",
        message: `${at(offset)}: key "${key}" appears more than once in this mapping`,
      });
    }
    seen.add(key);
    duplicateKeys(pair.value, keyPath, at, out);
  }
}

/** "tunnels[0].localSubnets[1]"; keys that are not identifiers are quoted. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((seg, i) => {
      if (typeof seg === "number") return `[${seg}]`;
      const key = String(seg);
      if (!/^[A-Za-z_$][\w$-]*$/.test(key)) return `[${JSON.stringify(key)}]`;
      return i === 0 ? key : `.${key}`;
    })
    .join("");
}

function fromZod(issue: z.core.$ZodIssue): ConfigIssue[] {
  const path = formatPath(issue.path);
  const one = (rule: string, message: string) => [{ path, rule, message }];
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => ({
        path: formatPath([...issue.path, key]),
        rule: "unknown-key",
        message: `unknown key "${key}"${suggest(key, keysAt(issue.path))}`,
      }));
    case "invalid_type":
      if (issue.input === undefined) return one("required", "is required");
      if (issue.input === null) {
        return issue.path.length > 0
          ? one("required", "is required but has no value")
          : one("type", "the file is empty; it must hold the agent configuration mapping");
      }
      return one(
        "type",
        `must be ${TYPE_NAMES[issue.expected] ?? issue.expected}, not ${describe(issue.input)}`,
      );
    case "invalid_value":
      return one("enum", `must be ${issue.values.map((v) => JSON.stringify(v)).join(" or ")}`);
    case "too_small":
      return one("min", `must ${bound(issue.origin, "at least", issue.minimum, issue.inclusive)}`);
    case "too_big":
      return one("max", `must ${bound(issue.origin, "at most", issue.maximum, issue.inclusive)}`);
    case "invalid_format":
    case "custom":
      // The schema's string refinements (IP, CIDR, absolute path, names) all judge the format.
      return one("format", issue.message);
    default:
      return one(issue.code, issue.message);
  }
}

const TYPE_NAMES: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  object: "a mapping",
  array: "a list",
};

function describe(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  return String(value);
}

function bound(
  origin: string,
  word: "at least" | "at most",
  limit: number | bigint,
  inclusive = true,
): string {
  const strict = word === "at least" ? "be more than" : "be less than";
  if (origin === "array") return `have ${word} ${limit} item${limit === 1 ? "" : "s"}`;
  if (origin === "string") return `be ${word} ${limit} characters long`;
  return inclusive ? `be ${word} ${limit}` : `${strict} ${limit}`;
}

/** The keys the schema allows at path, for "did you mean" hints. */
function keysAt(path: readonly PropertyKey[]): string[] {
  const unwrap = (s: unknown): unknown =>
    s instanceof z.ZodDefault || s instanceof z.ZodOptional ? unwrap(s.unwrap()) : s;
  let schema: unknown = configSchema;
  for (const seg of path) {
    schema = unwrap(schema);
    if (schema instanceof z.ZodArray) schema = schema.element;
    else if (schema instanceof z.ZodObject) schema = schema.shape[String(seg)];
    else return [];
  }
  schema = unwrap(schema);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

function suggest(key: string, allowed: string[]): string {
  const near = allowed
    .map((k) => ({ k, d: editDistance(key.toLowerCase(), k.toLowerCase()) }))
    .filter(({ d }) => d <= 2)
    .sort((a, b) => a.d - b.d)[0];
  if (near) return `; did you mean "${near.k}"?`;
  return allowed.length > 0 ? `; allowed: ${allowed.join(", ")}` : "";
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/** "EACCES: permission denied" without the path Node appends; callers name the file. */
function errnoText(err: unknown): string {
  return err instanceof Error ? err.message.replace(/, \w+ '.*'$/, "") : String(err);
}
