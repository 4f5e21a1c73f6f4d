import { type Command, CommanderError } from "commander";
import { SwpError } from "./errors.ts";

/**
 * What every swanpair CLI shares: the exit codes, how a command ends early, and how whatever
 * a command throws becomes an exit code and one line on stderr.
 */

/** Exit codes users can script against: 0 ok, 1 the operation failed, 2 bad usage or config. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Ends a command with `exitCode`; a non-empty message goes to stderr. */
export class ExitError extends Error {
  readonly exitCode: number;
  constructor(exitCode: number, message = "") {
    super(message);
    this.exitCode = exitCode;
  }
}

export function print(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

export function printErr(text: string): void {
  process.stderr.write(text.endsWith("\n") ? text : `${text}\n`);
}

/**
 * Runs `program` (built with exitOverride) on argv and returns the exit code. `explain` names
 * further errors that are failures to report in one line rather than bugs to report with a
 * stack, e.g. an EC2 call that failed for good.
 */
export async function runCli(
  program: Command,
  argv: string[],
  explain: (error: unknown) => string | undefined = () => undefined,
): Promise<number> {
  const name = program.name();
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version exit 0; every other parse problem is bad usage.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof ExitError) {
      if (error.message) printErr(error.message);
      return error.exitCode;
    }
    if (error instanceof SwpError) {
      printErr(`${name}: ${error.message} (${error.code})`);
      return error.code === "SWP_ERR_CONFIG_INVALID" ? EXIT.usage : EXIT.failed;
    }
    const known = explain(error);
    if (known !== undefined) {
      printErr(`${name}: ${known}`);
      return EXIT.failed;
    }
    printErr(`${name}: ${(error as Error).stack ?? String(error)}`);
    return EXIT.failed;
  }
}
