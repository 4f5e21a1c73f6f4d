import { Command } from "commander";
import { runCli } from "../../common/cli.ts";
import { labStream } from "../../control-plane/src/commands/lab-stream.ts";

/**
 * `swanpair lab stream` through runCli, as the real CLI runs it, on a program of its own: lets
 * tests spawn the verb whether or not control-plane/src/cli.ts lists it yet.
 */

const program = new Command("swanpair").exitOverride();
labStream.register(program.command("lab"));
process.exitCode = await runCli(program, process.argv, {
  examples: { [labStream.path]: labStream.examples },
});
