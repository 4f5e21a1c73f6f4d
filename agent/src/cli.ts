import "./zod-jitless.ts";
import { Command } from "commander";
import { runCli } from "../../common/cli.ts";
import { doctor } from "./commands/doctor.ts";
import { importVpn } from "./commands/import-vpn.ts";
import { initiate } from "./commands/initiate.ts";
import { reload } from "./commands/reload.ts";
import { render } from "./commands/render.ts";
import { run } from "./commands/run.ts";
import { status } from "./commands/status.ts";
import { terminate } from "./commands/terminate.ts";
import { validate } from "./commands/validate.ts";

/** In the order `--help` lists them. */
const VERBS = [run, doctor, validate, render, status, reload, initiate, terminate, importVpn];

function buildProgram(): Command {
  const program = new Command("swanpair-agent")
    .description("Runs strongSwan on a swanpair VPN appliance from a declarative config")
    .showHelpAfterError()
    .exitOverride();
  for (const verb of VERBS) verb.configure(program.command(verb.name));
  return program;
}

/** Shown by --help; runCli attaches them to their commands (and adds --json and --version). */
const EXAMPLES: Record<string, string[]> = {
  "": [
    "swanpair-agent validate --config /etc/swanpair/agent.yaml",
    "swanpair-agent status --socket /run/swanpair/a1/agent.sock",
  ],
  ...Object.fromEntries(VERBS.map((v) => [v.name, v.examples])),
};

export function main(argv: string[]): Promise<number> {
  return runCli(buildProgram(), argv, { examples: EXAMPLES });
}
