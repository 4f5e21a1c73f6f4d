import { type CheckRow, planVerify, type Step } from "./checks/verify-plan.ts";
import { type Ec2, Ec2Error } from "./ec2/client.ts";
import { writeFence } from "./ec2/fences.ts";
import { describeInstances } from "./ec2/instances.ts";
import { describeManagedTables } from "./ec2/managed-tables.ts";
import { replaceRoute } from "./ec2/route-writes.ts";
import { managedRoutes, preparedRoutes } from "./fleet/routes.ts";
import type { Fleet } from "./fleet/types.ts";

/**
 * `swanpair verify`: reads the fleet's tables and instances, then sends the writes
 * checks/verify-plan.ts chose with DryRun: EC2 answers whether the credentials allow them and
 * changes nothing. A write EC2 refuses is a FAIL row, not an exception: every check runs and
 * reports. Reads that fail throw Ec2Error.
 */
export async function runVerify(ec2: Ec2, fleet: Fleet): Promise<CheckRow[]> {
  const [view, instances] = await Promise.all([
    // Swap mode's member tables hold prepared routes rather than managed ones: read those
    // too, so that each member table has a route verify can re-assert.
    describeManagedTables(ec2, fleet, [
      ...managedRoutes(fleet),
      ...preparedRoutes(fleet).map((p) => p.route),
    ]),
    describeInstances(
      ec2,
      fleet.appliances.map((a) => a.instanceId),
    ),
  ]);
  const plan = planVerify(fleet, view, instances);
  const fences = await Promise.all(
    plan.fences.map((s) =>
      run(s, (w) => writeFence(ec2, [w.table], w.side, w.fence, { dryRun: true })),
    ),
  );
  const routes = await Promise.all(
    plan.routes.map((s) => run(s, (w) => replaceRoute(ec2, w.route, w.eni, { dryRun: true }))),
  );
  return [...fences, ...routes, ...plan.sourceDestCheck];
}

async function run<W>(step: Step<W>, write: (w: W) => Promise<void>): Promise<CheckRow> {
  if (step.kind === "row") return step.row;
  const { check, subject } = step;
  try {
    // EC2 answers an allowed DryRun with this error; an EC2 lookalike may just do the write.
    await write(step.write);
  } catch (error) {
    if (!(error instanceof Ec2Error)) throw error;
    if (error.code !== "DryRunOperation")
      return { check, subject, status: "FAIL", reason: error.message };
  }
  return { check, subject, status: "OK", reason: step.done };
}
