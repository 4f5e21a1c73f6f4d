import { FENCE_TAGS } from "../fleet/fence-tags.ts";
import type { Fleet } from "../fleet/types.ts";

/**
 * The least-privilege IAM policy for the controller (and `swanpair verify`), from the fleet's
 * region and tag. Pure. Why each statement looks the way it does: docs/iam-policy.md.
 */

export interface PolicyStatement {
  Sid: string;
  Effect: "Allow";
  Action: string[];
  Resource: string;
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: PolicyStatement[];
}

/** Every read the EC2 adapter makes; none supports resource-level permissions. */
export const READ_ACTIONS = ["ec2:DescribeInstances", "ec2:DescribeRouteTables"] as const;
/** Route writes; authorised on the route table alone. */
export const ROUTE_WRITE_ACTIONS = ["ec2:CreateRoute", "ec2:ReplaceRoute"] as const;
export const TAG_ACTION = "ec2:CreateTags";

/** Regions outside the commercial partition, by name prefix (longest first). */
const PARTITIONS: ReadonlyArray<[string, string]> = [
  ["us-isob-", "aws-iso-b"],
  ["us-isof-", "aws-iso-f"],
  ["eu-isoe-", "aws-iso-e"],
  ["us-iso-", "aws-iso"],
  ["us-gov-", "aws-us-gov"],
  ["cn-", "aws-cn"],
];

export function partitionOf(region: string): string {
  return PARTITIONS.find(([prefix]) => region.startsWith(prefix))?.[1] ?? "aws";
}

export function controllerPolicy(fleet: Pick<Fleet, "region" | "tag">): PolicyDocument {
  const routeTables = `arn:${partitionOf(fleet.region)}:ec2:${fleet.region}:*:route-table/*`;
  const fleetTables = { StringEquals: { [`ec2:ResourceTag/${fleet.tag.key}`]: fleet.tag.value } };
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ReadRouteTablesAndInstances",
        Effect: "Allow",
        Action: [...READ_ACTIONS],
        Resource: "*",
      },
      {
        Sid: "WriteRoutesInFleetTables",
        Effect: "Allow",
        Action: [...ROUTE_WRITE_ACTIONS],
        Resource: routeTables,
        Condition: fleetTables,
      },
      {
        Sid: "WriteFenceTagsOnFleetTables",
        Effect: "Allow",
        Action: [TAG_ACTION],
        Resource: routeTables,
        Condition: {
          ...fleetTables,
          // Only the fence keys: the controller can neither tag a foreign table into the fleet
          // nor rewrite the fleet tag of its own. Null: ForAllValues alone passes a request
          // that carries no keys at all.
          "ForAllValues:StringEquals": { "aws:TagKeys": Object.values(FENCE_TAGS) },
          Null: { "aws:TagKeys": "false" },
        },
      },
    ],
  };
}
