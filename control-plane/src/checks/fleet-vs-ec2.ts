import type { ConfigIssue } from "../../../common/yaml-config.ts";
import type { InstanceState } from "../ec2/instances.ts";
import type { ManagedTables, RouteTarget, TableState } from "../ec2/route-tables.ts";
import type { SubnetState } from "../ec2/swap.ts";
import { preparedRoutes } from "../fleet/routes.ts";
import type { Fleet, Vpc } from "../fleet/types.ts";
import { swapTablePath } from "../fleet/verify.ts";

/**
 * What the fleet file says against what EC2 shows: the checks the file alone cannot make.
 * Pure: the EC2 adapter reads the facts, this judges them. Paths are the file's, so issues
 * print like the loader's.
 */

export interface Ec2Facts {
  /** With `subnets` and `routes` (as describeManagedTables gives them), swap groups are judged too. */
  tables: ReadonlyArray<
    Pick<TableState, "id" | "vpcId" | "fleetTagged"> &
      Partial<Pick<TableState, "subnets" | "routes">>
  >;
  /** Listed route tables EC2 does not know. */
  missingTables: ManagedTables["missingTables"];
  /** By instance id; an instance EC2 does not know is absent. */
  instances: ReadonlyMap<string, Pick<InstanceState, "state" | "az" | "vpcId" | "enis">>;
  /**
   * Swap subnets by id (describeSwapSubnets); one EC2 does not know is absent. Without it,
   * the subnets' existence, VPC and tag are not judged.
   */
  subnets?: ReadonlyMap<string, SubnetState>;
}

export interface Ec2CheckResult {
  errors: ConfigIssue[];
  warnings: ConfigIssue[];
}

/** EC2 still lists these for a while, but they will never forward a packet again. */
const GONE_STATES = new Set(["shutting-down", "terminated"]);

export function checkFleetAgainstEc2(fleet: Fleet, facts: Ec2Facts): Ec2CheckResult {
  const result: Ec2CheckResult = { errors: [], warnings: [] };
  const error = (path: string, rule: string, message: string) =>
    result.errors.push({ path, rule, message });
  const vpcId = new Map(fleet.vpcs.map((v) => [v.name, v.id]));
  const tables = new Map(facts.tables.map((t) => [t.id, t]));
  const missing = new Set(facts.missingTables);
  const tag = `${fleet.tag.key}=${fleet.tag.value}`;

  const tagFix = (id: string) =>
    `aws ec2 create-tags --resources ${id} --tags Key=${fleet.tag.key},Value=${fleet.tag.value}`;
  const checkTable = (vpc: Vpc, path: string, id: string) => {
    const table = tables.get(id);
    if (missing.has(id) || !table) {
      error(path, "route-table-missing", `${id} does not exist in ${fleet.region}`);
      return;
    }
    if (table.vpcId !== vpc.id) {
      error(
        path,
        "route-table-vpc",
        `${id} belongs to ${table.vpcId}, not to ${vpc.name} (${vpc.id}); its routes cannot serve ${vpc.name}'s subnets`,
      );
    }
    if (!table.fleetTagged) {
      error(
        path,
        "route-table-untagged",
        `${id} does not carry the fleet tag ${tag}; the controller's IAM policy allows route writes only in tables that do (${tagFix(id)})`,
      );
    }
  };
  const checkSubnet = (vpc: Vpc, path: string, id: string) => {
    const subnet = facts.subnets?.get(id);
    if (facts.subnets && !subnet) {
      error(path, "subnet-missing", `${id} does not exist in ${fleet.region}`);
    } else if (subnet && subnet.vpcId !== vpc.id) {
      error(
        path,
        "subnet-vpc",
        `${id} belongs to ${subnet.vpcId}, not to ${vpc.name} (${vpc.id}); it cannot use ${vpc.name}'s tables`,
      );
    } else if (subnet && !subnet.fleetTagged) {
      error(
        path,
        "subnet-untagged",
        `${id} does not carry the fleet tag ${tag}; the controller's IAM policy moves only subnets that do (${tagFix(id)})`,
      );
    }
  };

  fleet.vpcs.forEach((vpc, i) => {
    vpc.routeTables.forEach((id, j) => {
      checkTable(vpc, `vpcs[${i}].routeTables[${j}]`, id);
    });
    vpc.swap?.forEach((group, j) => {
      for (const [member, id] of Object.entries(group.tables))
        checkTable(vpc, swapTablePath(i, j, member), id);
      group.subnets.forEach((id, k) => {
        checkSubnet(vpc, `vpcs[${i}].swap[${j}].subnets[${k}]`, id);
      });
    });
  });
  result.warnings.push(...swapWarnings(fleet, tables));

  // Zones as EC2 knows them, else as the file says.
  const zone = new Map<string, string | undefined>();
  fleet.appliances.forEach((a, i) => {
    const at = `appliances[${i}]`;
    const instance = facts.instances.get(a.instanceId);
    zone.set(a.name, instance?.az ?? a.az);
    if (!instance) {
      error(
        `${at}.instanceId`,
        "instance-missing",
        `${a.instanceId} does not exist in ${fleet.region}`,
      );
      return;
    }
    if (GONE_STATES.has(instance.state)) {
      error(`${at}.instanceId`, "instance-terminated", `${a.instanceId} is ${instance.state}`);
      return;
    }
    const expected = vpcId.get(a.vpc);
    if (instance.vpcId !== expected) {
      error(
        `${at}.instanceId`,
        "instance-vpc",
        `${a.instanceId} is in ${instance.vpcId ?? "no VPC"}, not in ${a.vpc} (${expected})`,
      );
    }
    const enis = instance.enis.map((n) => n.eni);
    if (!enis.includes(a.eni)) {
      error(
        `${at}.eni`,
        "eni-instance",
        `${a.eni} is not attached to ${a.instanceId} (attached: ${enis.join(", ") || "none"})`,
      );
    }
    if (a.az !== undefined && instance.az !== undefined && a.az !== instance.az) {
      error(
        `${at}.az`,
        "az-mismatch",
        `the file says ${a.az}, but ${a.instanceId} runs in ${instance.az}`,
      );
    }
  });

  fleet.pairs.forEach((p, i) => {
    const [first, second] = p.members;
    const az = zone.get(second);
    const declared = (name: string) => fleet.appliances.find((a) => a.name === name)?.az;
    // Both zones in the file: the loader has warned already, or az-mismatch says why not.
    if (declared(first) !== undefined && declared(second) !== undefined) return;
    if (az !== undefined && az === zone.get(first)) {
      result.warnings.push({
        path: `pairs[${i}].members[1]`,
        rule: "same-az",
        message: `"${second}" and "${first}" both run in ${az} (per EC2); the pair does not survive the loss of that zone`,
      });
    }
  });
  return result;
}

const targetText = (t: RouteTarget) =>
  t.kind === "eni"
    ? `${t.eni}${t.blackhole ? " (blackhole)" : ""}`
    : t.kind === "other"
      ? t.target
      : "missing";

type TableFacts = Ec2Facts["tables"][number];

/**
 * Swap groups, from the member tables' associations and routes, when the facts carry them:
 * - swap-subnet-association: a subnet on neither table of its group (the controller moves it
 *   on its first write, from wherever it is);
 * - swap-unprepared: a member table whose routes to the connected VPCs do not all point at
 *   its member yet (prepareSwapTables fixes that, but a failover before it would not work);
 * - swap-tables-differ: the two tables of a group differ in routes the fleet does not manage,
 *   so a failover changes those too.
 */
function swapWarnings(fleet: Fleet, tables: ReadonlyMap<string, TableFacts>): ConfigIssue[] {
  const warnings: ConfigIssue[] = [];
  const prepared = preparedRoutes(fleet);
  fleet.vpcs.forEach((vpc, i) => {
    vpc.swap?.forEach((group, j) => {
      const members = Object.entries(group.tables).map(([member, id]) => ({
        member,
        id,
        path: swapTablePath(i, j, member),
        facts: tables.get(id),
        want: prepared.filter((p) => p.route.routeTable === id),
      }));
      group.subnets.forEach((subnet, k) => {
        if (members.some((m) => m.facts?.subnets === undefined)) return;
        if (members.some((m) => m.facts?.subnets?.includes(subnet))) return;
        warnings.push({
          path: `vpcs[${i}].swap[${j}].subnets[${k}]`,
          rule: "swap-subnet-association",
          message: `${subnet} is associated with neither ${members.map((m) => m.id).join(" nor ")}; the controller moves it to the active member's table on its first write`,
        });
      });
      for (const m of members) {
        const routes = m.facts?.routes;
        if (!routes) continue;
        const wrong = m.want.flatMap(({ route, eni }) => {
          const t = routes.find((r) => r.destination === route.destination)?.target;
          if (t?.kind === "eni" && t.eni === eni && !t.blackhole) return [];
          return [`${route.destination} -> ${t ? targetText(t) : "missing"}`];
        });
        if (wrong.length > 0)
          warnings.push({
            path: m.path,
            rule: "swap-unprepared",
            message: `${m.id} is not prepared for ${m.member} (${m.want[0]?.eni}): ${wrong.join(", ")}; a failover to ${m.member} would not move these routes until the controller prepares the table (swanpair prepare does it now)`,
          });
      }
      const unmanaged = (m: (typeof members)[number]) => {
        const managed = new Set(m.want.map((p) => p.route.destination));
        return new Set(
          (m.facts?.routes ?? [])
            .filter((r) => !managed.has(r.destination))
            .map((r) => `${r.destination} -> ${targetText(r.target)}`),
        );
      };
      const [a, b] = members;
      if (!a?.facts?.routes || !b?.facts?.routes) return;
      const [ra, rb] = [unmanaged(a), unmanaged(b)];
      const only = (m: typeof a, x: Set<string>, y: Set<string>) => {
        const rs = [...x].filter((r) => !y.has(r));
        return rs.length > 0 ? [`only in ${m.id}: ${rs.join(", ")}`] : [];
      };
      const diff = [...only(a, ra, rb), ...only(b, rb, ra)];
      if (diff.length > 0)
        warnings.push({
          path: `vpcs[${i}].swap[${j}].tables`,
          rule: "swap-tables-differ",
          message: `${a.id} and ${b.id} differ in routes the fleet does not manage (${diff.join("; ")}); a failover between them changes those routes too`,
        });
    });
  });
  return warnings;
}
