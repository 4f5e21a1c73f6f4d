import { EXIT, ExitError, emit, printErr } from "../../../common/cli.ts";
import { RouteWriteError, type WriteOutcome } from "../ec2/route-writes.ts";
import { prepareSwapTables } from "../ec2/swap.ts";
import { ec2ErrorCode, loadOrExit, type Verb, withEc2 } from "./shared.ts";

/** `swanpair prepare`: swap mode's member tables, each pointed at its own member. */

export const prepare: Verb = {
  path: "prepare",
  examples: ["swanpair prepare --config fleet.yaml"],
  register: (parent) =>
    parent
      .command("prepare")
      .description(
        "swap mode: point each member route table's managed routes at its own member (precheck; moves no traffic)",
      )
      .requiredOption("--config <file>", "fleet config (YAML)")
      .option("--json", "print the outcome as JSON")
      .action(async (opts: { config: string; json?: boolean }) => {
        const fleet = await loadOrExit(opts.config);
        let outcomes: WriteOutcome[];
        let failures: RouteWriteError["failures"] = [];
        try {
          outcomes = await withEc2(fleet, (ec2) => prepareSwapTables(ec2, fleet));
        } catch (err) {
          if (!(err instanceof RouteWriteError)) throw err;
          outcomes = err.outcomes;
          failures = err.failures;
        }
        const n = (a: WriteOutcome["action"]) => outcomes.filter((o) => o.action === a).length;
        const counts = { created: n("created"), replaced: n("replaced"), skipped: n("skipped") };
        const failed = failures.map((f) => ({
          route: f.route,
          error: f.error.message,
          code: ec2ErrorCode(f.error),
        }));
        emit(
          opts.json,
          { ok: failed.length === 0, ...counts, failed },
          () =>
            `prepare: ${counts.created} created, ${counts.replaced} replaced, ${counts.skipped} already right, ${failed.length} failed`,
        );
        if (!opts.json)
          for (const f of failed)
            printErr(`  ${f.route.routeTable} ${f.route.destination}: ${f.error} (${f.code})`);
        if (failed.length > 0) throw new ExitError(EXIT.failed);
      }),
};
