import { EXIT, ExitError, emit, printErr } from "../../../common/cli.ts";
import { count } from "../../../common/text.ts";
import { formatStatus } from "../controller/format.ts";
import { gatherProblems } from "../controller/gather.ts";
import { type Snapshot, snapshot } from "../controller/snapshot.ts";
import { AGENT_TIMEOUT_MS, loadOrExit, type Verb, withEc2 } from "./shared.ts";

/** `swanpair status`: one look at every side; exits 1 while something needs attention. */

/** Why `status` exits 1: sides in alarm, agents that did not answer, EC2 that could not be read. */
function statusTrouble(snap: Snapshot): string[] {
  const alarms = snap.sides.filter((s) => s.alarm).map((s) => `${s.connection}/${s.pair}`);
  const agents = Object.keys(snap.errors.agents);
  return [
    ...(alarms.length > 0
      ? [`${count(alarms.length, "side")} in alarm (${alarms.join(", ")})`]
      : []),
    ...(agents.length > 0 ? [`unreachable agent(s): ${agents.join(", ")}`] : []),
    ...(snap.errors.routeTables ? ["route tables unreadable"] : []),
    ...(snap.errors.instances ? ["instances unreadable"] : []),
  ];
}

export const status: Verb = {
  path: "status",
  examples: [
    "swanpair status --config fleet.yaml",
    "swanpair status --config fleet.yaml --json | jq '.sides[] | {connection, active}'",
  ],
  register: (parent) =>
    parent
      .command("status")
      .description(
        "show each connection side: active member, member health and why, drifting routes, last failover (read-only); exits 1 while a side is in alarm, an agent is unreachable or EC2 cannot be read",
      )
      .requiredOption("--config <file>", "fleet config (YAML)")
      .option("--json", "print as JSON")
      .action(async (opts: { config: string; json?: boolean }) => {
        const fleet = await loadOrExit(opts.config);
        const snap = await withEc2(fleet, (ec2) =>
          snapshot(ec2, fleet, { agentTimeoutMs: AGENT_TIMEOUT_MS }),
        );
        const problems = gatherProblems(snap.errors);
        const trouble = statusTrouble(snap);
        const ok = trouble.length === 0;
        emit(opts.json, { ok, sides: snap.sides, problems }, () =>
          formatStatus(snap.sides, problems),
        );
        if (!ok) {
          if (!opts.json) printErr(`status: not ok: ${trouble.join("; ")}`);
          throw new ExitError(EXIT.failed);
        }
      }),
};
