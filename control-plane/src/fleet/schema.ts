import { z } from "zod";
import { absPath, cidr, ip, name } from "../../../common/schema-fields.ts";
import { quote } from "../../../common/text.ts";
import { FENCE_KEY_PREFIX, isFenceTagKey, LEGACY_FENCE_TAGS } from "./fence-tags.ts";
import type { FailoverPolicy } from "./types.ts";

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

/** The `failover` section; the lab topology takes it too, with a lab's defaults. */
export function failoverSchema(defaults: FailoverPolicy) {
  return z
    .strictObject({
      intervalMs: z.number().int().min(100).max(60_000).default(defaults.intervalMs),
      fall: z.number().int().min(1).max(100).default(defaults.fall),
      rise: z.number().int().min(1).max(100).default(defaults.rise),
      holdDownMs: z.number().int().min(0).max(3_600_000).default(defaults.holdDownMs),
      preempt: z.boolean().default(defaults.preempt),
    })
    .default(defaults);
}

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

const SSM_PREFIX_LEVELS = 12;
/** Leaves room under SSM's 1011 characters for /psk/<63>/<63> and the ARN's own part. */
const SSM_PREFIX_MAX = 512;

/**
 * SSM Parameter Store names are paths of letters, digits and _ . -, at most 15 levels deep;
 * AWS reserves first segments starting with "aws" or "ssm". The key names below the prefix add
 * three levels (`/psk/<a>/<b>`, common/psk-names.ts), so a prefix has at most 12.
 */
export function ssmPrefixProblem(prefix: string): string | undefined {
  const why = (reason: string) => `${quote(prefix)} is not an SSM parameter path: ${reason}`;
  if (!/^(\/[A-Za-z0-9_.-]+)+$/.test(prefix)) {
    return why('it must be "/" and segments of letters, digits and _ . -, such as /swanpair/prod');
  }
  if (/^\/(aws|ssm)/i.test(prefix)) return why('AWS reserves paths starting with "aws" or "ssm"');
  if (prefix.split("/").length - 1 > SSM_PREFIX_LEVELS) {
    return why(`it has more than ${SSM_PREFIX_LEVELS} levels; the key names add 3 to SSM's 15`);
  }
  if (prefix.length > SSM_PREFIX_MAX) return why(`it is longer than ${SSM_PREFIX_MAX} characters`);
  return undefined;
}

const ssmPrefix = z
  .string()
  .superRefine((v, ctx) => {
    const problem = ssmPrefixProblem(v);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .meta({
    pattern: `^(?!/[aA][wW][sS]|/[sS][sS][mM])(?:/[A-Za-z0-9_.-]+){1,${SSM_PREFIX_LEVELS}}$`,
  });

const keysSchema = z
  .strictObject({
    ssm: z
      .strictObject({
        prefix: ssmPrefix
          .optional()
          .describe(
            "path under which each tunnel's key lives, as <prefix>/psk/<a>/<b>; default /swanpair/<tag.value>",
          ),
        endpoint: z
          .url({ protocol: /^https?$/, message: "must be an http:// or https:// URL" })
          .optional()
          .describe("SSM endpoint override (moto, VPC endpoints), written into the agent configs"),
      })
      .prefault({}),
  })
  .describe("where the tunnels' pre-shared keys live: SSM Parameter Store, as SecureStrings");

const PROPOSAL_PRESETS = ["modern", "aws-compatible"] as const;

/** `{appliance}` in a path stands for the appliance's name: several agents on one host. */
export const APPLIANCE_PLACEHOLDER = "{appliance}";

/**
 * What every agent config rendered from the fleet shares (`swanpair agents render`). Only what
 * differs between fleets is here; the rest is the agent's own defaults.
 */
const agentsSchema = z
  .strictObject({
    datapath: z
      .enum(["kernel", "libipsec"])
      .default("kernel")
      .describe("kernel: XFRM interfaces (EC2). libipsec: userspace ESP (containers, labs)"),
    stateDir: absPath
      .default("/run/swanpair")
      .describe("the agent's runtime directory; {appliance} stands for the appliance's name"),
    charon: z
      .strictObject({
        mode: z
          .enum(["child", "external"])
          .default("child")
          .describe("child: the agent starts charon. external: charon is started by someone else"),
        vici: absPath
          .optional()
          .describe(
            "charon's VICI socket; default <stateDir>/charon.vici. The packaged units use /run/swanpair-charon/charon.vici",
          ),
      })
      .prefault({}),
    api: z
      .strictObject({
        socket: absPath
          .default("/run/swanpair/agent.sock")
          .describe(
            "the agent API's Unix socket of agents the controller reaches over https (a unix:// agent's is its URL's path)",
          ),
        tls: z
          .strictObject({
            ca: absPath.describe("on the appliance: the CA of the controller's client certificate"),
            cert: absPath.describe("on the appliance: the agent's server certificate"),
            key: absPath.describe("on the appliance: the agent's server key, mode 0600"),
          })
          .optional()
          .describe(
            "TLS files of the HTTPS listener of https:// agents, on the appliances; required to render their configs",
          ),
      })
      .prefault({}),
    crypto: z
      .strictObject({
        preset: z.enum(PROPOSAL_PRESETS).default("modern").describe("the agents' proposal set"),
      })
      .prefault({}),
    awsVpn: z
      .strictObject({
        pskDir: absPath
          .default("/etc/swanpair/aws-vpn")
          .describe(
            "on the appliances: where `swanpair-agent import-vpn --psk-dir` wrote the keys of the member's VPN connection (<vpn-id>-tunnel<n>.psk); {appliance} stands for the appliance's name",
          ),
      })
      .prefault({})
      .describe("the aws-vpn connections' entries in the rendered configs"),
    probe: z
      .strictObject({
        intervalMs: z.number().int().min(50).max(60_000).optional(),
        fall: z.number().int().min(1).max(100).optional(),
        rise: z.number().int().min(1).max(100).optional(),
      })
      .optional()
      .describe(
        "timers of every tunnel probe and path the rendered configs hold; default: the agent's (1000 ms, fall 3, rise 2). They bound how fast an agent moves traffic off a dead far member and how fast the controller sees a tunnel down",
      ),
  })
  .describe("defaults of the agent configs rendered from the fleet (swanpair agents render)");

/** The `agents` of a fleet file that has none. */
export const DEFAULT_AGENTS = agentsSchema.parse({});

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
  address: z
    .strictObject({
      private: ip.describe(
        "its address in its VPC: charon's IKE address, its tunnel probes' source and the far agents' probe target",
      ),
      public: ip
        .optional()
        .describe(
          "its Elastic IP: its IKE identity, dialled by the far appliances; default: private",
        ),
      pathSource: ip
        .optional()
        .describe(
          "another address of it in its VPC, routed through the VPC, that its path probes leave from; no paths without it",
        ),
    })
    .optional()
    .describe("its addresses, for the agent configs rendered from the fleet"),
});

const pairSchema = z.strictObject({
  name,
  members: z.array(name).describe("exactly two appliance names, in the same VPC"),
  preferred: name
    .optional()
    .describe("member that carries the routes when both are healthy; default: the first member"),
});

const siteToSiteSchema = z.strictObject({
  name,
  kind: z
    .literal("site-to-site")
    .default("site-to-site")
    .describe("software site-to-site between two pairs' VPCs"),
  between: z.array(name).describe("exactly two pair names, in different VPCs"),
});

const awsVpnSchema = z.strictObject({
  name,
  kind: z
    .literal("aws-vpn")
    .describe(
      "a pair in front of an AWS virtual private gateway or transit gateway, one Site-to-Site VPN connection per member",
    ),
  pair: name.describe("the pair whose VPC routes the networks behind AWS to its active member"),
  remoteCidrs: z
    .array(cidr)
    .min(1)
    .describe(
      "the networks behind the VPN gateway (e.g. the far VPC's CIDRs); each managed table of the pair's VPC routes them to the active member",
    ),
  vpnConnections: z
    .record(name, ec2Id("vpn"))
    .describe("per member of the pair, the id of its VPN connection, whose customer gateway it is"),
  pathTarget: ip.describe(
    "an address behind AWS that answers ICMP echo: each member pings it through the VPC's routes, so through the active member, and the controller counts a failed ping as the outside witness of that member's death",
  ),
});

const connectionSchema = z.discriminatedUnion("kind", [siteToSiteSchema, awsVpnSchema]);

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
  failover: failoverSchema(DEFAULT_FAILOVER),
  leases: leasesSchema.optional(),
  agents: agentsSchema.optional(),
  keys: keysSchema.optional(),
});

/** The file after zod applied defaults. */
export type ParsedFleet = z.output<typeof fleetSchema>;
