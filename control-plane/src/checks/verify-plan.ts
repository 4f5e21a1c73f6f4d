import { sidesOf } from "../decide/sides.ts";
import type { InstanceState } from "../ec2/instances.ts";
import type { ManagedTables } from "../ec2/route-tables.ts";
import type { FenceValue } from "../fleet/fence-tags.ts";
import { fleetTables } from "../fleet/routes.ts";
import type { Fleet, ManagedRoute } from "../fleet/types.ts";

/**
 * What `swanpair verify` asks EC2, and what it can judge without asking. Pure: the shell
 * (control-plane/src/verify.ts) reads EC2, asks this for the plan, and sends the writes with
 * DryRun, so EC2 checks the credentials and changes nothing. The routes are asked for the ENI
 * they point at already, so an EC2 lookalike that ignores DryRun changes nothing either.
 */

export type CheckStatus = "OK" | "FAIL" | "SKIP";
export type VerifyCheck = "fence-tags" | "replace-route" | "source-dest-check";

export interface CheckRow {
  check: VerifyCheck;
  /** Route table id, or appliance name. */
  subject: string;
  status: CheckStatus;
  reason: string;
}

/** A write to make (its row is OK with `done` once EC2 accepts it), or a row decided already. */
export type Step<W> =
  | { kind: "write"; check: VerifyCheck; subject: string; write: W; done: string }
  | { kind: "row"; row: CheckRow };

export interface VerifyPlan {
  /** One per managed route table, in file order. */
  fences: Step<{ table: string; side: { connection: string; pair: string }; fence: FenceValue }>[];
  /** One per managed route table, in file order: at most one ReplaceRoute each. */
  routes: Step<{ route: ManagedRoute; eni: string }>[];
  /** One per appliance, in file order. */
  sourceDestCheck: CheckRow[];
}

export function planVerify(
  fleet: Fleet,
  view: ManagedTables,
  instances: ReadonlyMap<string, Pick<InstanceState, "sourceDestCheck" | "enis">>,
): VerifyPlan {
  // In-place tables, then swap mode's member tables (which carry fences and prepared routes).
  const ids = fleetTables(fleet);
  const tables = new Map(view.tables.map((t) => [t.id, t]));
  const notFound = (check: VerifyCheck, subject: string): Step<never> => ({
    kind: "row",
    row: { check, subject, status: "FAIL", reason: `${subject} does not exist in ${fleet.region}` },
  });

  const sides = sidesOf(fleet);
  const fences = ids.map((id): VerifyPlan["fences"][number] => {
    if (!tables.has(id)) return notFound("fence-tags", id);
    const side = sides.find((s) => s.routeTables.includes(id));
    if (!side) {
      return {
        kind: "row",
        row: {
          check: "fence-tags",
          subject: id,
          status: "SKIP",
          reason: "no connection side routes through this table, so no fence is ever written",
        },
      };
    }
    const fence = { active: side.preferred, epoch: 0, at: new Date(0).toISOString() };
    return {
      kind: "write",
      check: "fence-tags",
      subject: id,
      write: { table: id, side: { connection: side.connection, pair: side.pair }, fence },
      done: `CreateTags of ${side.key}'s fence allowed (DryRun)`,
    };
  });

  // A route may be re-asserted only onto the member ENI it already points at.
  const applianceByEni = new Map(fleet.appliances.map((a) => [a.eni, a.name]));
  const members = new Map(fleet.pairs.map((p) => [p.name, p.members as readonly string[]]));
  const routes = ids.map((id): VerifyPlan["routes"][number] => {
    if (!tables.has(id)) return notFound("replace-route", id);
    for (const r of view.routes) {
      if (r.kind === "association" || r.routeTable !== id || r.target.kind !== "eni") continue;
      const member = applianceByEni.get(r.target.eni);
      if (member === undefined || !members.get(r.pair)?.includes(member)) continue;
      const { target, ...route } = r;
      return {
        kind: "write",
        check: "replace-route",
        subject: id,
        write: { route, eni: target.eni },
        done: `ReplaceRoute ${route.destination} -> ${target.eni} (${member}) allowed (DryRun)`,
      };
    }
    return {
      kind: "row",
      row: {
        check: "replace-route",
        subject: id,
        status: "SKIP",
        reason: "no managed route here points at a member's ENI; verify creates and moves no route",
      },
    };
  });

  const sourceDestCheck = fleet.appliances.map((a): CheckRow => {
    const row = (status: CheckStatus, reason: string): CheckRow => ({
      check: "source-dest-check",
      subject: a.name,
      status,
      reason,
    });
    const instance = instances.get(a.instanceId);
    if (!instance) return row("FAIL", `${a.instanceId} does not exist in ${fleet.region}`);
    const eni = instance.enis.find((n) => n.eni === a.eni);
    if (!eni) return row("FAIL", `${a.eni} is not attached to ${a.instanceId}`);
    // Anything but an explicit false forwards nothing that is not addressed to the appliance.
    const on = [
      instance.sourceDestCheck !== false &&
        `enabled on ${a.instanceId}: aws ec2 modify-instance-attribute --instance-id ${a.instanceId} --no-source-dest-check`,
      eni.sourceDestCheck !== false &&
        `enabled on ${a.eni}: aws ec2 modify-network-interface-attribute --network-interface-id ${a.eni} --no-source-dest-check`,
    ].filter((text) => text !== false);
    if (on.length > 0) return row("FAIL", `SourceDestCheck ${on.join("; ")}`);
    return row("OK", `SourceDestCheck disabled on ${a.instanceId} and ${a.eni}`);
  });

  return { fences, routes, sourceDestCheck };
}
