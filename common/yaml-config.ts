import { readFile } from "node:fs/promises";
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import { SwpError } from "./errors.ts";

/**
 * The generic half of every swanpair config loader (agent and fleet): YAML text to data with
 * line numbers and duplicate-key detection, zod issues to ConfigIssues with field paths and
 * rule ids, and the rendering of issues for people and machines. The config-specific half,
 * cross-field rules, lives with each schema.
 */

/** One problem in a config file: where, which rule, and what to do. */
export interface ConfigIssue {
  /** Field path such as "tunnels[0].localSubnets[1]"; "" for the whole file. */
  path: string;
  /** Short stable rule id such as "cidr", "overlap", "unknown-key". */
  rule: string;
  message: string;
}

/** What every loader returns, minus the resolved config itself. */
export type IssueResult =
  | { ok: true; warnings: ConfigIssue[] }
  | { ok: false; issues: ConfigIssue[] };

export type Shaped<T> = { ok: true; data: T } | { ok: false; issues: ConfigIssue[] };

/** Throws SwpError SWP_ERR_CONFIG_READ when the config file itself cannot be read. */
export async function readConfigFile(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new SwpError(
      "SWP_ERR_CONFIG_READ",
      `cannot read ${path}: ${errnoText(err)}`,
      { path },
      { cause: err },
    );
  }
}

/**
 * YAML, then the schema's shape rules. `what` names the file's content for the empty-file
 * message, e.g. "agent configuration".
 */
export function parseConfig<S extends z.ZodType>(
  text: string,
  schema: S,
  what: string,
): Shaped<z.output<S>> {
  const yaml = parseYaml(text);
  if (!yaml.ok) return yaml;
  const parsed = schema.safeParse(yaml.data, { reportInput: true });
  if (parsed.success) return { ok: true, data: parsed.data };
  return { ok: false, issues: parsed.error.issues.flatMap((i) => fromZod(i, schema, what)) };
}

function parseYaml(text: string): Shaped<unknown> {
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

function fromZod(issue: z.core.$ZodIssue, schema: z.ZodType, what: string): ConfigIssue[] {
  const path = formatPath(issue.path);
  const one = (rule: string, message: string) => [{ path, rule, message }];
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => ({
        path: formatPath([...issue.path, key]),
        rule: "unknown-key",
        message: `unknown key "${key}"${suggest(key, keysAt(schema, issue.path))}`,
      }));
    case "invalid_type":
      if (issue.input === undefined) return one("required", "is required");
      if (issue.input === null) {
        return issue.path.length > 0
          ? one("required", "is required but has no value")
          : one("type", `the file is empty; it must hold the ${what} mapping`);
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
      // String refinements (addresses, CIDRs, paths, names, ids) all judge the format.
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
function keysAt(root: z.ZodType, path: readonly PropertyKey[]): string[] {
  const unwrap = (s: unknown): unknown =>
    s instanceof z.ZodDefault || s instanceof z.ZodOptional ? unwrap(s.unwrap()) : s;
  let schema: unknown = root;
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
export function errnoText(err: unknown): string {
  return err instanceof Error ? err.message.replace(/, \w+ '.*'$/, "") : String(err);
}

// Rendering: one line per issue for people (grep-friendly, like a compiler), JSON for machines.

export type Severity = "error" | "warning";

/**
 * `<file>: <path>: <message> [<rule>]`; warnings say so; a whole-file issue has no path, and
 * an issue reported without its file (e.g. by a running agent) has no file.
 */
export function formatIssue(
  file: string | undefined,
  issue: ConfigIssue,
  severity: Severity = "error",
): string {
  const from = file === undefined ? "" : `${file}: `;
  const where = issue.path === "" ? "" : `${issue.path}: `;
  const tag = severity === "warning" ? "warning: " : "";
  return `${from}${where}${tag}${issue.message} [${issue.rule}]`;
}

/** The issues of a failed load, or the warnings of a successful one, one line each. */
export function formatLoadResult(file: string, result: IssueResult): string[] {
  if (!result.ok) return result.issues.map((i) => formatIssue(file, i));
  return result.warnings.map((i) => formatIssue(file, i, "warning"));
}

export interface IssueReport {
  file: string;
  ok: boolean;
  errors: ConfigIssue[];
  warnings: ConfigIssue[];
}

/** The JSON form; it never carries the resolved config, so no secret can ride along. */
export function issueReport(file: string, result: IssueResult): IssueReport {
  return result.ok
    ? { file, ok: true, errors: [], warnings: result.warnings }
    : { file, ok: false, errors: result.issues, warnings: [] };
}
