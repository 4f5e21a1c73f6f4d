import { EXIT, ExitError, emit } from "../../../common/cli.ts";
import type { Fleet } from "../fleet/types.ts";
import { leaseClient } from "../leases/client.ts";
import { createLeaseTable, LeaseTableError } from "../leases/table.ts";
import { loadOrExit, type Verb } from "./shared.ts";

/** `swanpair leases init`: creates the fleet's lease table (decision 0013). */

function leasesOrExit(fleet: Fleet, file: string): NonNullable<Fleet["leases"]> {
  if (!fleet.leases)
    throw new ExitError(EXIT.usage, `${file}: no leases section; add leases: { table: NAME }`);
  return fleet.leases;
}

export const leasesInit: Verb = {
  path: "leases init",
  examples: ["swanpair leases init --config fleet.yaml"],
  register: (parent) =>
    parent
      .command("init")
      .description(
        "create the fleet's DynamoDB lease table (on-demand billing, TTL on expires); an existing one with the right key is kept",
      )
      .requiredOption("--config <file>", "fleet config (YAML)")
      .option("--json", "print the result as JSON")
      .action(async (opts: { config: string; json?: boolean }) => {
        const fleet = await loadOrExit(opts.config);
        const leases = leasesOrExit(fleet, opts.config);
        const client = leaseClient(leases, fleet.region);
        try {
          const result = await createLeaseTable(client, leases.table);
          emit(opts.json, { table: leases.table, ...result }, () =>
            result.created
              ? `created lease table ${leases.table} (on-demand, TTL on expires)`
              : `lease table ${leases.table} exists${result.ttlEnabled ? "; TTL now enabled on expires" : ""}`,
          );
        } catch (error) {
          // A table of that name with another key: the operator's to rename or remove.
          if (error instanceof LeaseTableError) throw new ExitError(EXIT.failed, error.message);
          throw error;
        } finally {
          client.destroy();
        }
      }),
};
