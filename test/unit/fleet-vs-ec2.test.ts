import t from "tap";
import {
  checkFleetAgainstEc2,
  type Ec2Facts,
} from "../../control-plane/src/checks/fleet-vs-ec2.ts";
import type { InstanceState } from "../../control-plane/src/ec2/instances.ts";
import type { Fleet } from "../../control-plane/src/fleet/types.ts";
import { twoPairFleet } from "../fixtures/fleets.ts";

/**
 * The fleet-against-EC2 rules, one row per way the file and EC2 can disagree. The world
 * starts consistent: twoPairFleet (va: rtb-a1, rtb-a2; vb: rtb-b; appliance X is i-X with
 * eni-X) as EC2 would describe it, pair members in different zones, no zone in the file.
 */

type Instance = Pick<InstanceState, "state" | "az" | "vpcId" | "enis">;

interface World {
  fleet: Fleet;
  tables: Array<Ec2Facts["tables"][number]>;
  missingTables: string[];
  instances: Map<string, Instance>;
}

const ZONE: Record<string, string> = {
  a1: "eu-west-1a",
  a2: "eu-west-1b",
  b1: "eu-west-1a",
  b2: "eu-west-1b",
};

function world(): World {
  const fleet = twoPairFleet({
    intervalMs: 500,
    fall: 3,
    rise: 3,
    holdDownMs: 30_000,
    preempt: false,
  });
  const vpcId = new Map(fleet.vpcs.map((v) => [v.name, v.id]));
  return {
    fleet,
    tables: fleet.vpcs.flatMap((v) =>
      v.routeTables.map((id) => ({ id, vpcId: v.id, fleetTagged: true })),
    ),
    missingTables: [],
    instances: new Map(
      fleet.appliances.map((a) => [
        a.instanceId,
        {
          state: "running",
          az: ZONE[a.name],
          vpcId: vpcId.get(a.vpc),
          enis: [{ eni: a.eni, sourceDestCheck: false }],
        },
      ]),
    ),
  };
}

const appliance = (w: World, name: string) => {
  const found = w.fleet.appliances.find((a) => a.name === name);
  if (!found) throw new Error(`no appliance ${name}`);
  return found;
};
const instance = (w: World, name: string) => {
  const found = w.instances.get(appliance(w, name).instanceId);
  if (!found) throw new Error(`no instance for ${name}`);
  return found;
};
const table = (w: World, id: string) => {
  const found = w.tables.find((tb) => tb.id === id);
  if (!found) throw new Error(`no table ${id}`);
  return found;
};

interface Case {
  name: string;
  change: (w: World) => void;
  /** "path rule", in report order. */
  errors?: string[];
  warnings?: string[];
}

const CASES: Case[] = [
  { name: "file and EC2 agree", change: () => {} },
  {
    name: "a listed table EC2 reports missing",
    change: (w) => {
      w.tables = w.tables.filter((tb) => tb.id !== "rtb-a2");
      w.missingTables.push("rtb-a2");
    },
    errors: ["vpcs[0].routeTables[1] route-table-missing"],
  },
  {
    name: "a listed table absent from the facts altogether",
    change: (w) => {
      w.tables = w.tables.filter((tb) => tb.id !== "rtb-b");
    },
    errors: ["vpcs[1].routeTables[0] route-table-missing"],
  },
  {
    name: "a table of another VPC listed under vb",
    change: (w) => {
      table(w, "rtb-b").vpcId = "vpc-a";
    },
    errors: ["vpcs[1].routeTables[0] route-table-vpc"],
  },
  {
    name: "a table without the fleet tag",
    change: (w) => {
      table(w, "rtb-a1").fleetTagged = false;
    },
    errors: ["vpcs[0].routeTables[0] route-table-untagged"],
  },
  {
    name: "a foreign, untagged table: both rules",
    change: (w) => {
      Object.assign(table(w, "rtb-a2"), { vpcId: "vpc-0ther", fleetTagged: false });
    },
    errors: [
      "vpcs[0].routeTables[1] route-table-vpc",
      "vpcs[0].routeTables[1] route-table-untagged",
    ],
  },
  {
    name: "an instance EC2 does not know",
    change: (w) => {
      w.instances.delete(appliance(w, "b1").instanceId);
    },
    errors: ["appliances[2].instanceId instance-missing"],
  },
  {
    name: "a terminated instance, nothing else judged for it",
    change: (w) => {
      Object.assign(instance(w, "a2"), { state: "terminated", vpcId: undefined, enis: [] });
    },
    errors: ["appliances[1].instanceId instance-terminated"],
  },
  {
    name: "an instance in another VPC than its appliance's",
    change: (w) => {
      instance(w, "b2").vpcId = "vpc-a";
    },
    errors: ["appliances[3].instanceId instance-vpc"],
  },
  {
    name: "an ENI that is not the instance's",
    change: (w) => {
      instance(w, "a2").enis = [{ eni: "eni-a1", sourceDestCheck: false }];
    },
    errors: ["appliances[1].eni eni-instance"],
  },
  {
    name: "a file zone EC2 contradicts",
    change: (w) => {
      appliance(w, "a1").az = "eu-west-1c";
    },
    errors: ["appliances[0].az az-mismatch"],
  },
  {
    name: "a pair in one zone, both zones from EC2",
    change: (w) => {
      instance(w, "a2").az = "eu-west-1a";
    },
    warnings: ["pairs[0].members[1] same-az"],
  },
  {
    name: "a pair in one zone, one zone from the file, one from EC2",
    change: (w) => {
      appliance(w, "b1").az = "eu-west-1a";
      instance(w, "b2").az = "eu-west-1a";
    },
    warnings: ["pairs[1].members[1] same-az"],
  },
  {
    name: "a pair in one zone per the file: the loader warned, not again",
    change: (w) => {
      appliance(w, "a1").az = "eu-west-1a";
      appliance(w, "a2").az = "eu-west-1a";
      instance(w, "a2").az = "eu-west-1a";
    },
  },
  {
    name: "a member whose zone nobody knows draws no zone warning",
    change: (w) => {
      w.instances.delete(appliance(w, "a2").instanceId);
    },
    errors: ["appliances[1].instanceId instance-missing"],
  },
];

for (const c of CASES) {
  t.test(c.name, async (t) => {
    const w = world();
    c.change(w);
    const result = checkFleetAgainstEc2(w.fleet, w);
    const brief = (issues: { path: string; rule: string }[]) =>
      issues.map((i) => `${i.path} ${i.rule}`);
    t.same(brief(result.errors), c.errors ?? [], "errors");
    t.same(brief(result.warnings), c.warnings ?? [], "warnings");
  });
}

t.test("messages name the ids, the tag and the fix", async (t) => {
  const w = world();
  table(w, "rtb-a1").fleetTagged = false;
  table(w, "rtb-b").vpcId = "vpc-0ther";
  const [untagged, foreign] = checkFleetAgainstEc2(w.fleet, w).errors.map((i) => i.message);
  t.match(untagged, /rtb-a1 does not carry the fleet tag swanpair=test/);
  t.match(untagged, /aws ec2 create-tags --resources rtb-a1 --tags Key=swanpair,Value=test/);
  t.match(foreign, /rtb-b belongs to vpc-0ther, not to vb \(vpc-b\)/);
});
