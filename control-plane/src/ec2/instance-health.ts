import { DescribeInstanceStatusCommand } from "@aws-sdk/client-ec2";
import type { Ec2 } from "./client.ts";

/**
 * Instances whose EC2 status checks (instance or system) say `impaired`. Only running
 * instances have status checks; DescribeInstanceStatus fails as a whole on an unknown id, so
 * callers pass ids that DescribeInstances just found.
 */
export async function impairedInstances(ec2: Ec2, ids: string[]): Promise<Set<string>> {
  const out = new Set<string>();
  // The API takes at most 100 ids per request.
  for (let i = 0; i < ids.length; i += 100) {
    let NextToken: string | undefined;
    do {
      const page = await ec2.call("DescribeInstanceStatus", (sdk, opts) =>
        sdk.send(
          new DescribeInstanceStatusCommand({ InstanceIds: ids.slice(i, i + 100), NextToken }),
          opts,
        ),
      );
      for (const s of page.InstanceStatuses ?? []) {
        const bad =
          s.InstanceStatus?.Status === "impaired" || s.SystemStatus?.Status === "impaired";
        if (bad && s.InstanceId) out.add(s.InstanceId);
      }
      NextToken = page.NextToken;
    } while (NextToken);
  }
  return out;
}
