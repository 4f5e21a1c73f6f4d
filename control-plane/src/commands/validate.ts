import { printReport } from "../../../common/cli.ts";
import { count } from "../../../common/text.ts";
import { type IssueReport, issueReport } from "../../../common/yaml-config.ts";
import { checkFleetAgainstEc2 } from "../checks/fleet-vs-ec2.ts";
import { describeInstances } from "../ec2/instances.ts";
import { describeManagedTables } from "../ec2/managed-tables.ts";
import { describeSwapSubnets } from "../ec2/swap.ts";
import { loadFleetFile } from "../fleet/load.ts";
import { managedRoutes } from "../fleet/routes.ts";
import type { Fleet } from "../fleet/types.ts";
import { leaseClient } from "../leases/client.ts";
import { checkLeaseTable, type LeaseTableCheck } from "../leases/table.ts";
import { type Verb, withEc2 } from "./shared.ts";

/** `swanpair validate`: the fleet file, and with --ec2 the file against EC2 (read-only). */

/**
 * Read-only: the fleet's route tables and instances as EC2 shows them, judged against the
 * file, and its lease table if it has one.
 */
function checkAgainstEc2(fleet: Fleet) {
  return withEc2(fleet, async (ec2) => {
    const [view, instances, subnets, leases] = await Promise.all([
      describeManagedTables(ec2, fleet, []),
      describeInstances(
        ec2,
        fleet.appliances.map((a) => a.instanceId),
      ),
      describeSwapSubnets(ec2, fleet),
      checkLeases(fleet),
    ]);
    const found = checkFleetAgainstEc2(fleet, { ...view, instances, subnets });
    return {
      errors: [...found.errors, ...leases.errors],
      warnings: [...found.warnings, ...leases.warnings],
    };
  });
}

async function checkLeases(fleet: Fleet): Promise<LeaseTableCheck> {
  if (!fleet.leases) return { errors: [], warnings: [] };
  const client = leaseClient(fleet.leases, fleet.region);
  try {
    return await checkLeaseTable(client, fleet.leases.table);
  } catch (error) {
    // DynamoDB unreachable or refusing (credentials, policy): say so at the field.
    const message = `cannot check the lease table: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
    return {
      errors: [{ path: "leases.table", rule: "lease-table-unreadable", message }],
      warnings: [],
    };
  } finally {
    client.destroy();
  }
}

function summary(fleet: Fleet): string {
  const routes = managedRoutes(fleet);
  const swapped = routes.filter((r) => r.kind === "association").length;
  return [
    count(fleet.vpcs.length, "VPC"),
    count(fleet.appliances.length, "appliance"),
    count(fleet.pairs.length, "pair"),
    count(fleet.connections.length, "connection"),
    count(routes.filter((r) => r.kind !== "association").length, "managed route"),
    ...(swapped > 0 ? [count(swapped, "swap subnet association")] : []),
  ].join(", ");
}

export const validate: Verb = {
  path: "validate",
  examples: [
    "swanpair validate --config fleet.yaml",
    "swanpair validate --config fleet.yaml --ec2 --json",
  ],
  register: (parent) =>
    parent
      .command("validate")
      .description(
        "check a fleet file and report every problem with its field path; --ec2 also checks it against EC2 (read-only)",
      )
      .requiredOption("--config <file>", "fleet config (YAML)")
      .option("--json", "print the report as JSON")
      .option("--ec2", "also check route tables and instances against the EC2 API (read-only)")
      .action(async (opts: { config: string; json?: boolean; ec2?: boolean }) => {
        const file = opts.config;
        const loaded = await loadFleetFile(file);
        let report: IssueReport = issueReport(file, loaded);
        if (loaded.ok && opts.ec2) {
          const found = await checkAgainstEc2(loaded.fleet);
          report = {
            file,
            ok: found.errors.length === 0,
            errors: found.errors,
            warnings: [...loaded.warnings, ...found.warnings],
          };
        }
        printReport(report, opts.json, () => {
          const fleet = loaded.ok ? loaded.fleet : undefined;
          const region = opts.ec2 ? `; matches EC2 in ${fleet?.region}` : "";
          return `${file}: valid (${fleet ? summary(fleet) : ""})${region}`;
        });
      }),
};
