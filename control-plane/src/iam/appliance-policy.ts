import { pskParameterPatterns } from "../../../common/psk-names.ts";
import type { Fleet } from "../fleet/types.ts";
import { type PolicyDocument, partitionOf } from "./policy.ts";

/**
 * The IAM policy of one appliance's instance role: read its own tunnels' keys from SSM
 * Parameter Store, and decrypt them through SSM, nothing else. Pure. Why each statement looks
 * the way it does: docs/iam-policy.md, "An appliance's policy".
 */

export const KEY_READ_ACTIONS = ["ssm:GetParameters"] as const;
export const KEY_DECRYPT_ACTIONS = ["kms:Decrypt"] as const;

/** `prefix` is the fleet's key prefix (keys.ssm.prefix, or /swanpair/<tag value>). */
export function appliancePolicy(
  fleet: Pick<Fleet, "region">,
  prefix: string,
  appliance: string,
): PolicyDocument {
  const { region } = fleet;
  const partition = partitionOf(region);
  // A parameter's ARN is "parameter" followed by its name, whose leading "/" is the separator.
  const keys = pskParameterPatterns(prefix, appliance).map(
    (pattern) => `arn:${partition}:ssm:${region}:*:parameter${pattern}`,
  );
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ReadOwnTunnelKeys",
        Effect: "Allow",
        Action: [...KEY_READ_ACTIONS],
        Resource: keys,
      },
      {
        Sid: "DecryptOwnTunnelKeysThroughSsm",
        Effect: "Allow",
        Action: [...KEY_DECRYPT_ACTIONS],
        Resource: `arn:${partition}:kms:${region}:*:key/*`,
        // SSM's endpoint of this region, in any partition's domain (amazonaws.com, .com.cn, ...).
        Condition: { StringLike: { "kms:ViaService": `ssm.${region}.*` } },
      },
    ],
  };
}
