import type { Command } from "commander";
import { EXIT, ExitError, mustLoad } from "../../../common/cli.ts";
import { type ErrorCode, SwpError } from "../../../common/errors.ts";
import { EC2_UNAUTHORIZED } from "../../../common/sdk-errors.ts";
import { selfProblem } from "../controller/run.ts";
import { Ec2, Ec2Error } from "../ec2/client.ts";
import { loadFleetFile } from "../fleet/load.ts";
import type { Fleet } from "../fleet/types.ts";

/** What the verbs of `swanpair` share; each verb is a file of its own next to this one. */

/** One CLI verb: where it sits, how it is added, and the examples its --help ends with. */
export interface Verb {
  /** Its command path, as runCli keys examples: "validate", "controller run". */
  path: string;
  examples: string[];
  /** Adds the command through `parent.command()`, so it inherits exitOverride and the rest. */
  register(parent: Command): void;
}

/** An agent slower than this is reported unreachable by the one-shot commands. */
export const AGENT_TIMEOUT_MS = 3000;

/** Loads the fleet or ends with exit 2 and its issues (runCli prints them, as JSON too). */
export async function loadOrExit(file: string): Promise<Fleet> {
  const result = await loadFleetFile(file);
  mustLoad(file, result);
  return result.fleet;
}

export function memberOrExit(fleet: Fleet, appliance: string): void {
  const problem = selfProblem(fleet, appliance);
  if (problem) throw new ExitError(EXIT.usage, problem);
}

export async function withEc2<T>(fleet: Fleet, use: (ec2: Ec2) => Promise<T>): Promise<T> {
  const ec2 = new Ec2(fleet);
  try {
    return await use(ec2);
  } finally {
    ec2.destroy();
  }
}

/** The catalogue code of an EC2 call that failed for good: what the operator has to fix. */
export function ec2ErrorCode(error: Ec2Error): ErrorCode {
  if (error.outcome === "throttled") return "SWP_ERR_EC2_THROTTLED";
  if (EC2_UNAUTHORIZED.has(error.code)) return "SWP_ERR_EC2_UNAUTHORIZED";
  return "SWP_ERR_EC2_CALL";
}

/** For runCli: an EC2 call that failed for good is reported in one line, not as a bug. */
export function explainEc2(error: unknown): SwpError | undefined {
  return error instanceof Ec2Error ? new SwpError(ec2ErrorCode(error), error.message) : undefined;
}
