import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { LeasePolicy } from "../fleet/types.ts";

/**
 * The DynamoDB client of the leases: the fleet's region, the endpoint override of the fleet
 * file or else AWS_ENDPOINT_URL_DYNAMODB, and no SDK retries.
 */
export function leaseClient(
  leases: Pick<LeasePolicy, "endpoint">,
  region: string,
  env: NodeJS.ProcessEnv = process.env,
): DynamoDBClient {
  const endpoint = leases.endpoint ?? env.AWS_ENDPOINT_URL_DYNAMODB;
  if (endpoint !== undefined && !URL.canParse(endpoint))
    throw new Error(`DynamoDB endpoint is not a URL: ${endpoint}`);
  return new DynamoDBClient({
    region,
    endpoint,
    // The keeper retries on its own schedule, each call within the lease's time; set in code
    // so that AWS_MAX_ATTEMPTS cannot add hidden attempts (as for EC2, decision 0007).
    maxAttempts: 1,
  });
}
