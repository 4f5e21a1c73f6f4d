import { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import { SwpError } from "./errors.ts";
import { errnoText, openRegularFile } from "./regular-file.ts";
import { clip, count, quote } from "./text.ts";

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

/** A load that failed: its errors, and the warnings found on the way, which still count. */
export type Refused = { ok: false; issues: ConfigIssue[]; warnings: ConfigIssue[] };

/** What every loader returns, minus the resolved config itself. */
export type IssueResult = { ok: true; warnings: ConfigIssue[] } | Refused;

export type Shaped<T> = { ok: true; data: T } | Refused;

/** A config file is a few kilobytes; one this large is the wrong file, refused unread. */
export const CONFIG_FILE_MAX_BYTES = 1024 * 1024;

/**
 * The text of a config file. Throws SwpError SWP_ERR_CONFIG_READ when the file cannot be read
 * at all (missing, unreadable, not a regular file: a FIFO named by mistake cannot hang the
 * reader). A file over CONFIG_FILE_MAX_BYTES is refused by its size, before it is read, as one
 * issue (rule `size`).
 */
export async function readConfigFile(path: string): Promise<{ ok: true; text: string } | Refused> {
  const fail = (reason: string, cause?: unknown): never => {
    throw new SwpError(
      "SWP_ERR_CONFIG_READ",
      `cannot read ${path}: ${reason}`,
      { path },
      { cause },
    );
  };
  const file = await openRegularFile(path);
  if (!file.ok) return fail(file.reason);
  try {
    const { size } = file.stats;
    if (size > CONFIG_FILE_MAX_BYTES) {
      const message = `the file is ${size} bytes, over the ${CONFIG_FILE_MAX_BYTES}-byte (1 MiB) limit of a config file; is it the right file?`;
      return { ok: false, issues: [{ path: "", rule: "size", message }], warnings: [] };
    }
    return { ok: true, text: (await file.handle.readFile()).toString("utf8") };
  } catch (err) {
    return fail(errnoText(err), err);
  } finally {
    await file.handle.close();
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
  const issues = parsed.error.issues.flatMap((i) => fromZod(i, schema, what));
  return { ok: false, issues, warnings: [] };
}

function parseYaml(text: string): Shaped<unknown> {
  const lines = new LineCounter();
  // Duplicate keys are found below instead, so they can be reported with their field path.
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false });
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `line ${line}, column ${col}`;
  };
  // The parser's messages quote the text around the error, which in a binary file can be long.
  const issues: ConfigIssue[] = [...doc.errors, ...doc.warnings].map((e) => ({
    path: "",
    rule: "yaml",
    message: `${at(e.pos[0])}: ${clip(e.message, 200)}`,
  }));
  if (issues.length === 0) duplicateKeys(doc.contents, [], at, issues);
  if (issues.length > 0) return { ok: false, issues, warnings: [] };
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
        message: `${at(offset)}: key ${quote(key)} appears more than once in this mapping`,
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
        message: `unknown key ${quote(key)}${suggest(key, keysAt(schema, issue.path))}`,
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
  if (typeof value === "string") return `the string ${quote(value)}`;
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

/** The errors of a load, then its warnings, one line each, at most MAX_ISSUES_SHOWN. */
export function formatLoadResult(file: string, result: IssueResult): string[] {
  return reportLines(issueReport(file, result));
}

export interface IssueReport {
  file: string;
  ok: boolean;
  errors: ConfigIssue[];
  warnings: ConfigIssue[];
  /** How many issues capReport left out, when it left any out. */
  omitted?: { errors: number; warnings: number };
}

/** The JSON form; it never carries the resolved config, so no secret can ride along. */
export function issueReport(file: string, result: IssueResult): IssueReport {
  return result.ok
    ? { file, ok: true, errors: [], warnings: result.warnings }
    : { file, ok: false, errors: result.issues, warnings: result.warnings };
}

/**
 * How many issues are shown, in lines or in JSON. A garbage file can hold thousands of YAML
 * errors; the first ones are what a person fixes first, and what a program needs to say why.
 */
export const MAX_ISSUES_SHOWN = 50;

/**
 * The report as shown: at most MAX_ISSUES_SHOWN issues, errors first, then warnings; what is
 * left out is counted in `omitted`. Each message is cut to a few hundred characters.
 */
export function capReport(report: IssueReport, max = MAX_ISSUES_SHOWN): IssueReport {
  const cut = (issues: ConfigIssue[], room: number) =>
    issues.slice(0, Math.max(room, 0)).map((i) => ({ ...i, message: clip(i.message) }));
  const errors = cut(report.errors, max);
  const warnings = cut(report.warnings, max - errors.length);
  const omitted = {
    errors: report.errors.length - errors.length,
    warnings: report.warnings.length - warnings.length,
  };
  const { omitted: _, ...rest } = report;
  const some = omitted.errors + omitted.warnings > 0;
  return { ...rest, errors, warnings, ...(some && { omitted }) };
}

/** The report for people: one line per issue shown, then one line for those left out. */
export function reportLines(report: IssueReport): string[] {
  const { file, errors, warnings, omitted } = capReport(report);
  const lines = [
    ...errors.map((i) => formatIssue(file, i)),
    ...warnings.map((i) => formatIssue(file, i, "warning")),
  ];
  if (omitted) {
    const parts = [
      ...(omitted.errors > 0 ? [count(omitted.errors, "more error")] : []),
      ...(omitted.warnings > 0 ? [count(omitted.warnings, "more warning")] : []),
    ];
    lines.push(`${file}: … and ${parts.join(" and ")}`);
  }
  return lines;
}
