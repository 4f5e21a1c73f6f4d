import { type Command, CommanderError } from "commander";
import pkg from "../package.json" with { type: "json" };
import { type ErrorCode, SwpError } from "./errors.ts";
import { count } from "./text.ts";
import {
  capReport,
  type IssueReport,
  type IssueResult,
  issueReport,
  reportLines,
} from "./yaml-config.ts";

/**
 * What every swanpair CLI shares: the version, the exit codes, `--json` on every command (with
 * errors as JSON too), examples in `--help`, colour only where wanted, and how whatever a
 * command throws becomes an exit code and either lines on stderr or one JSON document on
 * stdout. Both programs call runCli; docs/errors.md documents the JSON error shape.
 */

/** The package's version; the agent's single-file build carries it inlined. */
export const VERSION: string = pkg.version;

/** Exit codes users can script against: 0 ok, 1 the operation failed, 2 bad usage or config. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/**
 * Ends a command with `exitCode`. A non-empty message is the error: one line on stderr, or
 * under --json `{"error":{"code","message"}}` on stdout. Without a message the command has
 * already said why (its own output), so nothing more is printed.
 */
export class ExitError extends Error {
  readonly exitCode: number;
  /**
   * The error's code under --json. By default SWP_ERR_USAGE for exit 2 and SWP_ERR_FAILED
   * otherwise; a failure with a code of its own in common/errors.ts should pass it.
   */
  readonly code: ErrorCode;
  constructor(exitCode: number, message = "", code?: ErrorCode) {
    super(message);
    this.exitCode = exitCode;
    this.code = code ?? (exitCode === EXIT.usage ? "SWP_ERR_USAGE" : "SWP_ERR_FAILED");
  }
}

/**
 * An exit code that is the command's answer, not an error: `plan --detailed-exitcode` ends
 * with 2 for "changes pending". Never remapped (see runCli) and never printed.
 */
export class ExitAnswer extends ExitError {
  constructor(exitCode: number) {
    super(exitCode);
  }
}

/** A config that did not load; runCli prints its errors and warnings and exits 2. */
export class ConfigInvalidError extends SwpError {
  readonly report: IssueReport;
  constructor(report: IssueReport) {
    const n = count(report.errors.length, "error");
    super("SWP_ERR_CONFIG_INVALID", `${report.file} is invalid: ${n}`, { file: report.file });
    this.report = report;
  }
}

export function print(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

export function printErr(text: string): void {
  process.stderr.write(text.endsWith("\n") ? text : `${text}\n`);
}

export function printJson(data: unknown): void {
  print(JSON.stringify(data, null, 2));
}

/** A command's result: `data` as JSON under --json, else the human text. */
export function emit(json: boolean | undefined, data: unknown, human: () => string): void {
  if (json) printJson(data);
  else print(human());
}

/**
 * Narrows a load result to its config, or throws ConfigInvalidError. The warnings of a good
 * load go to stderr, so stdout keeps one document under --json.
 */
export function mustLoad<R extends IssueResult>(
  file: string,
  result: R,
): asserts result is Extract<R, { ok: true }> {
  const report = issueReport(file, result);
  if (!result.ok) throw new ConfigInvalidError(report);
  for (const line of reportLines(report)) printErr(line);
}

/**
 * `validate`'s output: the report (capped) as JSON, or its lines on stderr and `valid()` on
 * stdout; an invalid report ends the command with exit 2.
 */
export function printReport(
  report: IssueReport,
  json: boolean | undefined,
  valid: () => string,
): void {
  if (json) printJson(capReport(report));
  else {
    for (const line of reportLines(report)) printErr(line);
    if (report.ok) print(valid());
  }
  if (!report.ok) throw new ExitError(EXIT.usage);
}

/** Colour on a terminal only, and never when NO_COLOR is set to anything (no-color.org). */
export function useColor(stream: { isTTY?: boolean } = process.stdout): boolean {
  const noColor = process.env.NO_COLOR;
  return Boolean(stream.isTTY) && (noColor === undefined || noColor === "");
}

export interface CliOptions {
  /**
   * Example command lines for `--help`, by command path: "" for the program, "validate",
   * "controller run". A path that names no command is a bug, so it throws.
   */
  examples?: Record<string, string[]>;
  /**
   * Turns further errors into SwpErrors: failures to report in one line rather than bugs to
   * report with a stack, e.g. an EC2 call that failed for good.
   */
  explain?: (error: unknown) => SwpError | undefined;
}

/**
 * Runs `program` (built with exitOverride) on argv and returns the exit code. Before parsing it
 * adds `--version` to the program, `--json` to every command that lacks it, and the examples;
 * under `--json` commander's own error text is silenced and every error is one JSON document
 * on stdout. With `--detailed-exitcode` (terraform's convention: 2 means "changes pending"),
 * bad usage and invalid config exit 1 instead of 2, so that 2 keeps one meaning.
 */
export async function runCli(
  program: Command,
  argv: string[],
  options: CliOptions = {},
): Promise<number> {
  const args = argv.slice(2);
  const given = args.includes("--") ? args.slice(0, args.indexOf("--")) : args;
  const json = given.includes("--json");
  prepare(program, options.examples ?? {}, json);
  let code: number;
  let answer = false;
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (error) {
    code = settle(error, program.name(), json, options.explain);
    answer = error instanceof ExitAnswer;
  }
  if (given.includes("--detailed-exitcode") && code === EXIT.usage && !answer) return EXIT.failed;
  return code;
}

function prepare(program: Command, examples: Record<string, string[]>, json: boolean): void {
  program.version(VERSION, "-V, --version", "print the version");
  const walk = (c: Command, path: string[]): [string, Command][] => [
    [path.join(" "), c],
    ...c.commands.flatMap((sub) => walk(sub, [...path, sub.name()])),
  ];
  const commands = new Map(walk(program, []));
  for (const c of commands.values()) {
    const leaf = c.commands.length === 0;
    if (leaf && !c.options.some((o) => o.long === "--json")) {
      c.option("--json", "print the result, or the error, as JSON on stdout");
    }
    // Commander prints parse errors (and the help after them) itself; JSON replaces them.
    if (json) c.configureOutput({ outputError: () => {}, writeErr: () => {} });
  }
  for (const [path, lines] of Object.entries(examples)) {
    const c = commands.get(path);
    if (!c) throw new Error(`examples for "${path}", which is no command of ${program.name()}`);
    c.addHelpText("after", `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}`);
  }
}

/** The exit code for what a command threw, after reporting it. */
function settle(
  error: unknown,
  name: string,
  json: boolean,
  explain: CliOptions["explain"],
): number {
  const fail = (code: ErrorCode, message: string, human: string) => {
    if (json) printJson({ error: { code, message } });
    else printErr(human);
  };
  if (error instanceof CommanderError) {
    // --help and --version exit 0; every other parse problem is bad usage, already printed
    // by commander unless --json silenced it.
    if (error.exitCode === 0) return EXIT.ok;
    if (json) printJson({ error: { code: "SWP_ERR_USAGE", message: usageText(error) } });
    return EXIT.usage;
  }
  if (error instanceof ExitError) {
    if (error.message) fail(error.code, error.message, error.message);
    return error.exitCode;
  }
  if (error instanceof ConfigInvalidError) {
    if (json) {
      const { file, errors, warnings, omitted } = capReport(error.report);
      const detail = { file, issues: errors, warnings, ...(omitted && { omitted }) };
      printJson({ error: { code: error.code, message: error.message, ...detail } });
    } else for (const line of reportLines(error.report)) printErr(line);
    return EXIT.usage;
  }
  const known = error instanceof SwpError ? error : explain?.(error);
  if (known) {
    fail(known.code, known.message, `${name}: ${known.message} (${known.code})`);
    return known.code === "SWP_ERR_CONFIG_INVALID" ? EXIT.usage : EXIT.failed;
  }
  // A bug: the stack goes to stderr either way, for the report.
  printErr(`${name}: ${(error as Error).stack ?? String(error)}`);
  if (json) printJson({ error: { code: "SWP_ERR_INTERNAL", message: String(error) } });
  return EXIT.failed;
}

/** "error: unknown option '--x'" without commander's "error: " and trailing help hints. */
function usageText(error: CommanderError): string {
  return error.message.replace(/^error: /, "").trim();
}
