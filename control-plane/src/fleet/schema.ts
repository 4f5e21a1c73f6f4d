import { z } from "zod";
import { absPath, cidr, name } from "../../../common/schema-fields.ts";
import { quote } from "../../../common/text.ts";
import { FENCE_KEY_PREFIX, isFenceTagKey, LEGACY_FENCE_TAGS } from "./fence-tags.ts";

/**
 * The fleet file, as the operator writes it. Shape rules live here; rules across fields,
 * lists or files live in verify.ts.
 */

// Appliance names are the agents' own appliance names, so `name` is the agent's rule.

/** EC2 ids: a fixed prefix, then lowercase hex (17 digits today, 8 on older resources). */
const ec2Id = (prefix: string) =>
  z.string().regex(new RegExp(`^${prefix}-[0-9a-f]{1,17}$`), {
    error: (iss) =>
      `${quote(String(iss.input))} is not an EC2 id: it must be "${prefix}-" followed by 1-17 lowercase hex digits`,
  });

/** AWS tag text: letters, digits, spaces and _ . : / = + - @. */
const tagText = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[\p{L}\p{N} _.:/=+\-@]+$/u, {
      message: "may hold only letters, digits, spaces and _ . : / = + - @",
    });

export type AgentUrl = { kind: "unix"; path: string } | { kind: "https"; url: string };
export type AgentUrlResult = { ok: true; agent: AgentUrl } | { ok: false; reason: string };

/**
 * `unix:///absolute/path.sock` or `https://host:port`. Nothing else: the controller has no
 * business talking to an agent over plain HTTP, and a path or query would be ignored.
 */
export function parseAgentUrl(text: string): AgentUrlResult {
  const fail = (reason: string): AgentUrlResult => ({ ok: false, reason });
  if (text.startsWith("unix:")) {
    const path = text.slice("unix://".length);
    if (!text.startsWith("unix://") || !path.startsWith("/")) {
      return fail("a Unix socket URL is unix:// and an absolute path, e.g. unix:///run/x.sock");
    }
    return { ok: true, agent: { kind: "unix", path } };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail("must be unix:///path/to/agent.sock or https://host:port");
  }
  if (url.protocol !== "https:") {
    return fail(`scheme "${url.protocol.slice(0, -1)}" is not allowed; use https:// or unix://`);
  }
  // URL drops a default port, so look for it in the text; the port is part of the contract.
  if (!/^https:\/\/[^/?#@]+:[1-9]\d*\/?$/.test(text)) {
    return fail("must be https://host:port, with the port and without user, path or query");
  }
  return { ok: true, agent: { kind: "https", url: `https://${url.hostname}:${url.port || 443}` } };
}

/** The TCP ports 1-65535, as decimal text without a leading zero. */
const PORT =
  "(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";

const agentUrl = z
  .string()
  .superRefine((v, ctx) => {
    const r = parseAgentUrl(v);
    if (!r.ok)
      ctx.addIssue({ code: "custom", message: `invalid agent URL ${quote(v)}: ${r.reason}` });
  })
  .meta({ pattern: `^(?:unix:///|https://[^/?#@]+:${PORT}/?$)` });

const DEFAULT_TAG = { key: "swanpair:fleet", value: "default" } as const;
export const DEFAULT_FAILOVER = {
  intervalMs: 500,
  fall: 3,
  rise: 3,
  holdDownMs: 30_000,
  preempt: false,
} as const;

export const DEFAULT_LEASE_TTL_MS = 15_000;

/** DynamoDB's rule for table names. */
const dynamoTableName = z
  .string()
  .min(3)
  .max(255)
  .regex(/^[a-zA-Z0-9_.-]+$/, {
    error: (iss) =>
      `${quote(String(iss.input))} is not a DynamoDB table name: it may hold only letters, digits and _ . -`,
  });

const leasesSchema = z
  .strictObject({
    table: dynamoTableName.describe(
      "DynamoDB table holding one lease item per connection side (hash key side, a string)",
    ),
    ttlMs: z
      .number()
      .int()
      .min(2000)
      .max(300_000)
      .default(DEFAULT_LEASE_TTL_MS)
      .describe(
        "how long a lease lasts without renewal; the holder renews every ttlMs/3, and another controller takes a side over at the earliest this long after its holder stopped renewing; at least 3 x failover.intervalMs",
      ),
    endpoint: z
      .url({ protocol: /^https?$/, message: "must be an http:// or https:// URL" })
      .optional()
      .describe(
        "DynamoDB endpoint override (moto, VPC endpoints); AWS_ENDPOINT_URL_DYNAMODB also works",
      ),
  })
  .describe(
    "leases in DynamoDB, for several controllers of one fleet: a side is written only by the controller holding its lease",
  );

const vpcSchema = z.strictObject({
  name,
  id: ec2Id("vpc"),
  cidrs: z.array(cidr).min(1).describe("the VPC's CIDR blocks; other VPCs route these here"),
  routeTables: z
    .array(ec2Id("rtb"))
    .min(1)
    .optional()
    .describe(
      "route tables of this VPC whose routes to connected VPCs the fleet manages in place; required unless swap is given",
    ),
  swap: z
    .array(
      z.strictObject({
        subnets: z
          .array(ec2Id("subnet"))
          .min(1)
          .describe("subnets that fail over together by moving between the member tables"),
        tables: z
          .record(z.string(), ec2Id("rtb"))
          .describe(
            "one route table per member of the VPC's pair, keyed by member name; each holds that member's routes",
          ),
      }),
    )
    .min(1)
    .optional()
    .describe(
      "swap mode: subnets whose failover is one ReplaceRouteTableAssociation each, between tables prepared per member (only with exactly one pair in the VPC)",
    ),
});

const applianceSchema = z.strictObject({
  name,
  vpc: name.describe("name of the VPC the appliance lives in"),
  instanceId: ec2Id("i"),
  eni: ec2Id("eni").describe("the network interface managed routes point at"),
  agent: agentUrl.describe("unix:///absolute/path.sock or https://host:port"),
  az: z
    .string()
    .regex(/^[a-z]{2}-[a-z0-9-]+[a-z]$/, {
      message: "must be an availability zone name such as us-east-1a",
    })
    .optional()
    .describe("availability zone; both members of a pair in one zone draws a warning"),
});

const pairSchema = z.strictObject({
  name,
  members: z.array(name).describe("exactly two appliance names, in the same VPC"),
  preferred: name
    .optional()
    .describe("member that carries the routes when both are healthy; default: the first member"),
});

const connectionSchema = z.strictObject({
  name,
  kind: z
    .literal("site-to-site")
    .default("site-to-site")
    .describe("software site-to-site between two pairs' VPCs"),
  between: z.array(name).describe("exactly two pair names, in different VPCs"),
});

export const fleetSchema = z.strictObject({
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, {
    message: "must be an AWS region such as us-east-1",
  }),
  endpoint: z
    .url({ protocol: /^https?$/, message: "must be an http:// or https:// URL" })
    .optional()
    .describe("EC2 endpoint override (moto, VPC endpoints); AWS_ENDPOINT_URL_EC2 also works"),
  tag: z
    .strictObject({
      key: tagText(128)
        .refine((k) => !k.toLowerCase().startsWith("aws:"), {
          message: 'must not start with "aws:"; that prefix is reserved by AWS',
        })
        // The controller rewrites its fence tags on every decision; a fleet tag with one of
        // their keys would be overwritten, and the IAM policy would then lock it out.
        .refine((k) => !isFenceTagKey(k), {
          message: `must not be a key of the controller's fence tags (${FENCE_KEY_PREFIX}*, ${Object.values(LEGACY_FENCE_TAGS).join(", ")})`,
        })
        .default(DEFAULT_TAG.key),
      value: tagText(256)
        .default(DEFAULT_TAG.value)
        .describe("the fleet's name; give each fleet in an account its own"),
    })
    .default(DEFAULT_TAG)
    .describe("tag on every managed route table; the IAM policy is scoped to it"),
  tls: z
    .strictObject({
      ca: absPath.describe("CA bundle that signed the agents' server certificates"),
      cert: absPath.describe("the controller's client certificate"),
      key: absPath.describe("the controller's client key"),
    })
    .optional()
    .describe("mutual TLS to https agents; required when any agent is https"),
  vpcs: z.array(vpcSchema).min(1),
  appliances: z.array(applianceSchema).min(1),
  pairs: z.array(pairSchema).min(1),
  connections: z.array(connectionSchema).default([]),
  failover: z
    .strictObject({
      intervalMs: z.number().int().min(100).max(60_000).default(DEFAULT_FAILOVER.intervalMs),
      fall: z.number().int().min(1).max(100).default(DEFAULT_FAILOVER.fall),
      rise: z.number().int().min(1).max(100).default(DEFAULT_FAILOVER.rise),
      holdDownMs: z.number().int().min(0).max(3_600_000).default(DEFAULT_FAILOVER.holdDownMs),
      preempt: z.boolean().default(DEFAULT_FAILOVER.preempt),
    })
    .default(DEFAULT_FAILOVER),
  leases: leasesSchema.optional(),
});

/** The file after zod applied defaults. */
export type ParsedFleet = z.output<typeof fleetSchema>;
