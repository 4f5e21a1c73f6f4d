import { resolve } from "node:path";
import type { Command } from "commander";
import { EXIT, ExitError, printErr } from "../../../common/cli.ts";
import { checkTlsFiles, readFileFacts, TLS_FILE_MAX_BYTES } from "../../../common/config-files.ts";
import { formatIssue } from "../../../common/yaml-config.ts";
import type { Appliance, Fleet } from "../fleet/types.ts";

/** What `tunnels`, `tunnel initiate|terminate` and `agents reload` share. */

/** Acting waits for charon (terminate, reload), so it gets longer than a status read. */
export const ACT_TIMEOUT_MS = 30_000;

export function applianceOrExit(fleet: Fleet, name: string): Appliance {
  const found = fleet.appliances.find((a) => a.name === name);
  if (found) return found;
  const known = fleet.appliances.map((a) => a.name).join(", ");
  throw new ExitError(EXIT.usage, `no appliance named "${name}" in the fleet (${known})`);
}

/** The named appliance, or every one. */
export function selectAppliances(fleet: Fleet, name: string | undefined): Appliance[] {
  return name === undefined ? fleet.appliances : [applianceOrExit(fleet, name)];
}

/** After the output: exit 1, saying why on stderr unless the JSON says it. */
export function exitIfTrouble(verb: string, trouble: string[], json: boolean | undefined): void {
  if (trouble.length === 0) return;
  if (!json) printErr(`${verb}: not ok: ${trouble.join("; ")}`);
  throw new ExitError(EXIT.failed);
}

export interface OperatorCertOptions {
  tlsCert?: string;
  tlsKey?: string;
}

export function operatorCertOptions(command: Command): Command {
  return command
    .option(
      "--tls-cert <file>",
      "an operator's client certificate (OU=swanpair-operator in its subject) for agents reached over HTTPS, instead of the fleet's read-only tls.cert",
    )
    .option("--tls-key <file>", "the key of --tls-cert (mode 0600 or stricter)");
}

const FLAGS: Record<string, string> = { "tls.cert": "--tls-cert", "tls.key": "--tls-key" };

/**
 * The fleet with the operator's certificate in place of the fleet's for every HTTPS agent
 * (all share the fleet's tls section), after checking the files as the fleet's own are
 * checked; the fleet as it is without the options. Bad files end the command with exit 2.
 */
export async function withOperatorCert(fleet: Fleet, opts: OperatorCertOptions): Promise<Fleet> {
  const { tlsCert, tlsKey } = opts;
  if (tlsCert === undefined && tlsKey === undefined) return fleet;
  if (tlsCert === undefined || tlsKey === undefined) {
    throw new ExitError(EXIT.usage, "--tls-cert and --tls-key go together");
  }
  const https = fleet.appliances.flatMap((a) => (a.agent.kind === "https" ? [a.agent] : []));
  const ca = https[0]?.tls.ca;
  if (ca === undefined) {
    throw new ExitError(
      EXIT.usage,
      "--tls-cert and --tls-key are for agents reached over HTTPS; every agent of this fleet is on a Unix socket, which needs no certificate",
    );
  }
  const tls = { ca, cert: resolve(tlsCert), key: resolve(tlsKey) };
  const paths = [...new Set([tls.ca, tls.cert, tls.key])];
  const files = new Map(
    await Promise.all(
      paths.map(async (f) => [f, await readFileFacts(f, TLS_FILE_MAX_BYTES)] as const),
    ),
  );
  const problems: string[] = [];
  const issue = (path: string, rule: string, message: string) => ({
    path: FLAGS[path] ?? path,
    rule,
    message,
  });
  checkTlsFiles("tls", tls, files, {
    error: (...found) => problems.push(formatIssue(undefined, issue(...found))),
    warn: (...found) => printErr(formatIssue(undefined, issue(...found), "warning")),
  });
  if (problems.length > 0) throw new ExitError(EXIT.usage, problems.join("\n"));
  return {
    ...fleet,
    appliances: fleet.appliances.map((a) =>
      a.agent.kind === "https" ? { ...a, agent: { ...a.agent, tls } } : a,
    ),
  };
}
