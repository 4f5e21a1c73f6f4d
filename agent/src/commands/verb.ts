import type { Command } from "commander";

/** One `swanpair-agent` verb; cli.ts adds them to the program in the order `--help` lists them. */
export interface Verb {
  name: string;
  /** Example command lines for its `--help`. */
  examples: string[];
  /** Adds the description, options and action to the verb's command. */
  configure(command: Command): void;
}
