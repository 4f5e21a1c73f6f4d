import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  type TableDescription,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import type { ConfigIssue } from "../../../common/yaml-config.ts";

/**
 * The lease table: creating it (idempotent) and checking it for `swanpair validate --ec2`.
 * Layout: hash key `side` (S), no range key, on-demand capacity, TTL on `expires` (garbage
 * collection of items a week after their lease ended; the lease itself never relies on it).
 */

export const HASH_KEY = "side";
export const TTL_ATTRIBUTE = "expires";

/** A lease table that cannot be used as it is. */
export class LeaseTableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LeaseTableError";
  }
}

export interface CreateLeaseTableOptions {
  /** How long to wait for the table to become ACTIVE. */
  waitMs?: number;
  /** Between two DescribeTable calls while waiting. */
  pollMs?: number;
}

export interface CreateLeaseTableResult {
  /** False when the table existed already. */
  created: boolean;
  /** False when TTL was already enabled on `expires`. */
  ttlEnabled: boolean;
}

const keySchemaOk = (t: TableDescription): boolean =>
  t.KeySchema?.length === 1 &&
  t.KeySchema[0]?.AttributeName === HASH_KEY &&
  t.KeySchema[0]?.KeyType === "HASH" &&
  t.AttributeDefinitions?.find((a) => a.AttributeName === HASH_KEY)?.AttributeType === "S";

const describeKeys = (t: TableDescription): string =>
  (t.KeySchema ?? [])
    .map((k) => {
      const type = t.AttributeDefinitions?.find(
        (a) => a.AttributeName === k.AttributeName,
      )?.AttributeType;
      return `${k.AttributeName} (${type ?? "?"}, ${k.KeyType})`;
    })
    .join(", ") || "none";

const WANTED_KEYS = `${HASH_KEY} (S, HASH) alone`;

async function describe(client: DynamoDBClient, name: string) {
  try {
    return (await client.send(new DescribeTableCommand({ TableName: name }))).Table;
  } catch (error) {
    if ((error as { name?: string }).name === "ResourceNotFoundException") return undefined;
    throw error;
  }
}

/**
 * Creates the lease table `name` (on demand, hash key `side`), waits until it is ACTIVE (at
 * most `waitMs`), then enables TTL on `expires`. An existing table with the right key is
 * used as it is; one with another key schema is a LeaseTableError, never changed.
 */
export async function createLeaseTable(
  client: DynamoDBClient,
  name: string,
  { waitMs = 120_000, pollMs = 1000 }: CreateLeaseTableOptions = {},
): Promise<CreateLeaseTableResult> {
  let table = await describe(client, name);
  let created = false;
  if (table === undefined) {
    try {
      table = (
        await client.send(
          new CreateTableCommand({
            TableName: name,
            BillingMode: "PAY_PER_REQUEST",
            AttributeDefinitions: [{ AttributeName: HASH_KEY, AttributeType: "S" }],
            KeySchema: [{ AttributeName: HASH_KEY, KeyType: "HASH" }],
          }),
        )
      ).TableDescription;
      created = true;
    } catch (error) {
      // Someone else created it in between: judge theirs as any existing table.
      if ((error as { name?: string }).name !== "ResourceInUseException") throw error;
      table = await describe(client, name);
    }
  }
  if (table === undefined) throw new LeaseTableError(`DynamoDB table ${name} vanished`);
  if (!keySchemaOk(table))
    throw new LeaseTableError(
      `DynamoDB table ${name} exists with the key ${describeKeys(table)}; a lease table has ${WANTED_KEYS}: choose another leases.table or delete that table`,
    );
  const deadline = performance.now() + waitMs;
  while (table?.TableStatus !== "ACTIVE") {
    if (performance.now() > deadline)
      throw new LeaseTableError(
        `DynamoDB table ${name} is ${table?.TableStatus ?? "gone"} after ${waitMs} ms; it must be ACTIVE`,
      );
    await new Promise((resolve) => setTimeout(resolve, pollMs));
    table = await describe(client, name);
  }
  const ttl = (await client.send(new DescribeTimeToLiveCommand({ TableName: name })))
    .TimeToLiveDescription;
  const status = ttl?.TimeToLiveStatus;
  if ((status === "ENABLED" || status === "ENABLING") && ttl?.AttributeName === TTL_ATTRIBUTE)
    return { created, ttlEnabled: false };
  if ((status === "ENABLED" || status === "ENABLING") && ttl?.AttributeName !== TTL_ATTRIBUTE)
    throw new LeaseTableError(
      `DynamoDB table ${name} has TTL on ${ttl?.AttributeName}; the lease items expire through ${TTL_ATTRIBUTE}`,
    );
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: name,
      TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
    }),
  );
  return { created, ttlEnabled: true };
}

/** Errors make the table unusable; warnings do not stop the leases. */
export interface LeaseTableCheck {
  errors: ConfigIssue[];
  warnings: ConfigIssue[];
}

/**
 * What is wrong with the lease table for `swanpair validate --ec2`, as issues at
 * `leases.table`. Errors: missing, another key schema, not ACTIVE. Warning: TTL not enabled on
 * `expires` (old items are never deleted; the leases still work). Other failures
 * (credentials, endpoint) are thrown, as the EC2 checks throw theirs.
 */
export async function checkLeaseTable(
  client: DynamoDBClient,
  name: string,
): Promise<LeaseTableCheck> {
  const result: LeaseTableCheck = { errors: [], warnings: [] };
  const issue = (to: ConfigIssue[], rule: string, message: string) =>
    to.push({ path: "leases.table", rule, message });
  const table = await describe(client, name);
  if (table === undefined) {
    issue(
      result.errors,
      "lease-table-missing",
      `DynamoDB table ${name} does not exist; create it with hash key ${HASH_KEY} (S), on demand, TTL on ${TTL_ATTRIBUTE}`,
    );
    return result;
  }
  if (!keySchemaOk(table))
    issue(
      result.errors,
      "lease-table-key",
      `DynamoDB table ${name} has the key ${describeKeys(table)}; a lease table has ${WANTED_KEYS}`,
    );
  if (table.TableStatus !== "ACTIVE")
    issue(
      result.errors,
      "lease-table-status",
      `DynamoDB table ${name} is ${table.TableStatus ?? "in no known state"}, not ACTIVE`,
    );
  const ttl = (await client.send(new DescribeTimeToLiveCommand({ TableName: name })))
    .TimeToLiveDescription;
  const on = ttl?.TimeToLiveStatus === "ENABLED" || ttl?.TimeToLiveStatus === "ENABLING";
  if (!on || ttl?.AttributeName !== TTL_ATTRIBUTE)
    issue(
      result.warnings,
      "lease-table-ttl",
      on
        ? `DynamoDB table ${name} has TTL on ${ttl?.AttributeName}, not on ${TTL_ATTRIBUTE}; old lease items will not be deleted`
        : `DynamoDB table ${name} has TTL ${ttl?.TimeToLiveStatus ?? "DISABLED"}; old lease items will not be deleted: aws dynamodb update-time-to-live --table-name ${name} --time-to-live-specification Enabled=true,AttributeName=${TTL_ATTRIBUTE}`,
    );
  return result;
}
