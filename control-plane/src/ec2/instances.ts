import { DescribeInstancesCommand, type Instance } from "@aws-sdk/client-ec2";
import type { Ec2 } from "./client.ts";
import { pagedById } from "./paging.ts";

export interface InstanceState {
  instanceId: string;
  /** pending, running, stopping, stopped, shutting-down, terminated. */
  state: string;
  az: string | undefined;
  vpcId: string | undefined;
  sourceDestCheck: boolean | undefined;
  enis: Array<{ eni: string; sourceDestCheck: boolean | undefined }>;
}

function instanceState(instance: Instance): InstanceState {
  return {
    instanceId: instance.InstanceId ?? "",
    state: instance.State?.Name ?? "unknown",
    az: instance.Placement?.AvailabilityZone,
    vpcId: instance.VpcId,
    sourceDestCheck: instance.SourceDestCheck,
    enis: (instance.NetworkInterfaces ?? []).map((n) => ({
      eni: n.NetworkInterfaceId ?? "",
      sourceDestCheck: n.SourceDestCheck,
    })),
  };
}

/**
 * State, AZ, VPC and SourceDestCheck of the instances (absent from the map when EC2 does not know
 * them). Filtered by id: EC2 throttles unfiltered, unpaginated DescribeInstances on a
 * smaller bucket.
 */
export async function describeInstances(
  ec2: Ec2,
  ids: string[],
): Promise<Map<string, InstanceState>> {
  const out = new Map<string, InstanceState>();
  await pagedById(ids, async (chunk, NextToken) => {
    const page = await ec2.call("DescribeInstances", (sdk, opts) =>
      sdk.send(
        new DescribeInstancesCommand({
          Filters: [{ Name: "instance-id", Values: chunk }],
          NextToken,
        }),
        opts,
      ),
    );
    for (const reservation of page.Reservations ?? [])
      for (const instance of reservation.Instances ?? []) {
        const state = instanceState(instance);
        out.set(state.instanceId, state);
      }
    return page.NextToken;
  });
  return out;
}
