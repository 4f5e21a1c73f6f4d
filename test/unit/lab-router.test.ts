import type { RouteTable } from "@aws-sdk/client-ec2";
import t from "tap";
import {
  desiredRoutes,
  FIRST_TABLE,
  routeKey,
} from "../../control-plane/src/lab/router/desired.ts";

/** The VPC router's core: EC2's route tables to one Linux table per subnet. */

const subnets = [
  { id: "subnet-b", cidr: "10.1.2.0/24" },
  { id: "subnet-a", cidr: "10.1.1.0/24" },
];
const addresses = new Map([
  ["eni-1", "10.1.1.10"],
  ["i-1", "10.1.1.10"],
  ["eni-2", "10.1.1.11"],
]);

function table(
  id: string,
  routes: RouteTable["Routes"],
  associations: RouteTable["Associations"],
): RouteTable {
  return { RouteTableId: id, Routes: routes, Associations: associations };
}

const main = table(
  "rtb-main",
  [{ DestinationCidrBlock: "10.1.0.0/16", GatewayId: "local", State: "active" }],
  [{ Main: true }],
);
const managed = table(
  "rtb-1",
  [
    { DestinationCidrBlock: "10.1.0.0/16", GatewayId: "local", State: "active" },
    { DestinationCidrBlock: "0.0.0.0/0", GatewayId: "igw-1", State: "active" },
    { DestinationCidrBlock: "10.2.0.0/16", NetworkInterfaceId: "eni-1", State: "active" },
    { DestinationCidrBlock: "10.3.0.0/16", InstanceId: "i-1", State: "active" },
    { DestinationCidrBlock: "10.4.0.0/16", NetworkInterfaceId: "eni-9", State: "active" },
    { DestinationCidrBlock: "10.5.0.0/16", NetworkInterfaceId: "eni-2", State: "blackhole" },
  ],
  [{ SubnetId: "subnet-a", AssociationState: { State: "associated" } }],
);

t.test(
  "each subnet follows its own table, or the main one; tables are numbered by subnet id",
  async (t) => {
    const got = desiredRoutes({ subnets, routeTables: [main, managed], addresses });
    t.same(
      got.map((s) => ({
        subnet: s.subnet,
        table: s.table,
        rt: s.routeTable,
        routes: s.routes.map(routeKey),
      })),
      [
        {
          subnet: "subnet-a",
          table: FIRST_TABLE,
          rt: "rtb-1",
          routes: [
            "0.0.0.0/0 internet",
            "10.1.0.0/16 vpc",
            "10.2.0.0/16 via 10.1.1.10",
            "10.3.0.0/16 via 10.1.1.10",
            // An ENI the router cannot resolve, and a route EC2 calls a black hole, drop traffic.
            "10.4.0.0/16 blackhole",
            "10.5.0.0/16 blackhole",
          ],
        },
        // No way out in EC2: unreachable, never the container's own default route.
        {
          subnet: "subnet-b",
          table: FIRST_TABLE + 1,
          rt: "rtb-main",
          routes: ["10.1.0.0/16 vpc", "0.0.0.0/0 unreachable"],
        },
      ],
    );
  },
);

t.test("a route moved to the partner changes only that route's next hop", async (t) => {
  const moved = structuredClone(managed);
  const r = moved.Routes?.find((x) => x.DestinationCidrBlock === "10.2.0.0/16");
  if (r) r.NetworkInterfaceId = "eni-2";
  const [before] = desiredRoutes({ subnets, routeTables: [main, managed], addresses });
  const [after] = desiredRoutes({ subnets, routeTables: [main, moved], addresses });
  const b = new Set(before?.routes.map(routeKey));
  const changed = after?.routes.map(routeKey).filter((k) => !b.has(k));
  t.same(changed, ["10.2.0.0/16 via 10.1.1.11"]);
});

t.test("a disassociated subnet falls back to the main table", async (t) => {
  const gone = structuredClone(managed);
  gone.Associations = [{ SubnetId: "subnet-a", AssociationState: { State: "disassociated" } }];
  const [a] = desiredRoutes({ subnets, routeTables: [main, gone], addresses });
  t.equal(a?.routeTable, "rtb-main");
});
