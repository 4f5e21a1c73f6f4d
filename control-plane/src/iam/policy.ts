import { FENCE_KEY_PREFIX, LEGACY_FENCE_TAGS } from "../fleet/fence-tags.ts";
import { swapSubnets } from "../fleet/routes.ts";
import type { Fleet } from "../fleet/types.ts";

/**
 * The least-privilege IAM policy for the controller (and `swanpair verify`), from the fleet's
 * region and tag. Pure. Why each statement looks the way it does: docs/iam-policy.md.
 */

export interface PolicyStatement {
  Sid: string;
  Effect: "Allow";
  Action: string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: PolicyStatement[];
}

/** Every read the EC2 adapter makes; none supports resource-level permissions. */
export const READ_ACTIONS = [
  "ec2:DescribeInstanceStatus",
  "ec2:DescribeInstances",
  "ec2:DescribeRouteTables",
] as const;
/** Read only for swap mode, by the EC2-backed validate: the swap subnets' VPC and tags. */
export const SWAP_READ_ACTIONS = ["ec2:DescribeSubnets"] as const;
/** Route writes; authorised on the route table alone. */
export const ROUTE_WRITE_ACTIONS = ["ec2:CreateRoute", "ec2:ReplaceRoute"] as const;
/** Swap mode's writes; authorised on the new route table and on the subnet. */
export const ASSOCIATION_ACTIONS = [
  "ec2:AssociateRouteTable",
  "ec2:ReplaceRouteTableAssociation",
] as const;
export const TAG_ACTION = "ec2:CreateTags";
/** A side's lease: read it, and claim, renew or release it with conditional updates. */
export const LEASE_ACTIONS = ["dynamodb:GetItem", "dynamodb:UpdateItem"] as const;
/** The EC2-backed validate's check of the lease table. */
export const LEASE_TABLE_READ_ACTIONS = [
  "dynamodb:DescribeTable",
  "dynamodb:DescribeTimeToLive",
] as const;
/** Only to remove the fence tags of swanpair 0.1 once every side has its own. */
export const UNTAG_ACTION = "ec2:DeleteTags";

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

/**
 * `vpcs` decides whether the swap-mode statements are needed: a fleet without swap groups (or
 * a caller that passes no VPCs) gets no association rights.
 */
export function controllerPolicy(
  fleet: Pick<Fleet, "region" | "tag"> & { vpcs?: Fleet["vpcs"]; leases?: Fleet["leases"] },
): PolicyDocument {
  const arn = (type: string) => `arn:${partitionOf(fleet.region)}:ec2:${fleet.region}:*:${type}/*`;
  const routeTables = arn("route-table");
  const fleetTables = { StringEquals: { [`ec2:ResourceTag/${fleet.tag.key}`]: fleet.tag.value } };
  const swap = swapSubnets({ vpcs: fleet.vpcs ?? [] }).length > 0;
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ReadRouteTablesAndInstances",
        Effect: "Allow",
        Action: [...READ_ACTIONS, ...(swap ? SWAP_READ_ACTIONS : [])],
        Resource: "*",
      },
      {
        Sid: "WriteRoutesInFleetTables",
        Effect: "Allow",
        Action: [...ROUTE_WRITE_ACTIONS],
        Resource: routeTables,
        Condition: fleetTables,
      },
      // Both resources of the request must carry the fleet tag: the table the subnet moves to
      // and the subnet itself, so the controller cannot reroute a subnet outside its fleet.
      ...(swap
        ? [
            {
              Sid: "MoveFleetSubnetsBetweenFleetTables",
              Effect: "Allow" as const,
              Action: [...ASSOCIATION_ACTIONS],
              Resource: [routeTables, arn("subnet")],
              Condition: fleetTables,
            },
          ]
        : []),
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
          "ForAllValues:StringLike": { "aws:TagKeys": [`${FENCE_KEY_PREFIX}*`] },
          Null: { "aws:TagKeys": "false" },
        },
      },
      {
        Sid: "RemoveLegacyFenceTagsFromFleetTables",
        Effect: "Allow",
        Action: [UNTAG_ACTION],
        Resource: routeTables,
        Condition: {
          ...fleetTables,
          "ForAllValues:StringEquals": { "aws:TagKeys": Object.values(LEGACY_FENCE_TAGS) },
          Null: { "aws:TagKeys": "false" },
        },
      },
      // The lease table alone: item-level conditions are the controller's own business.
      ...(fleet.leases
        ? [
            {
              Sid: "HoldSideLeases",
              Effect: "Allow" as const,
              Action: [...LEASE_ACTIONS, ...LEASE_TABLE_READ_ACTIONS],
              Resource: `arn:${partitionOf(fleet.region)}:dynamodb:${fleet.region}:*:table/${fleet.leases.table}`,
            },
          ]
        : []),
    ],
  };
}
