import type { ConfigIssue } from "../../../common/yaml-config.ts";
import type { InstanceState, ManagedTables, TableState } from "../ec2/routes.ts";
import type { Fleet } from "../fleet/types.ts";

/**
 * What the fleet file says against what EC2 shows: the checks the file alone cannot make.
 * Pure: the EC2 adapter reads the facts, this judges them. Paths are the file's, so issues
 * print like the loader's.
 */

export interface Ec2Facts {
  tables: ReadonlyArray<Pick<TableState, "id" | "vpcId" | "fleetTagged">>;
  /** Listed route tables EC2 does not know. */
  missingTables: ManagedTables["missingTables"];
  /** By instance id; an instance EC2 does not know is absent. */
  instances: ReadonlyMap<string, Pick<InstanceState, "state" | "az" | "vpcId" | "enis">>;
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

  fleet.vpcs.forEach((vpc, i) => {
    vpc.routeTables.forEach((id, j) => {
      const path = `vpcs[${i}].routeTables[${j}]`;
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
          `${id} does not carry the fleet tag ${tag}; the controller's IAM policy allows route writes only in tables that do (aws ec2 create-tags --resources ${id} --tags Key=${fleet.tag.key},Value=${fleet.tag.value})`,
        );
      }
    });
  });

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
