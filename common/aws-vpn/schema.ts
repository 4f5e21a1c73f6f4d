import { z } from "zod";
import { absPath, cidr, ip, name, xfrmIfId } from "../schema-fields.ts";
import {
  asnProblem,
  dpdTimeoutProblem,
  ENCRYPTION_ALGORITHMS,
  holdTimeProblem,
  IKE_VERSIONS,
  INTEGRITY_ALGORITHMS,
  insideAddressesProblem,
  insideCidrProblem,
  PHASE1_DH_GROUPS,
  PHASE1_LIFETIME,
  PHASE2_DH_GROUPS,
  PHASE2_LIFETIME,
  type Problem,
  phase2LifetimeProblem,
} from "./rules.ts";

/**
 * The agent config's `type: aws-vpn` tunnel entry, as `swanpair-agent import-vpn` writes it:
 * one VPN connection, both its tunnels. AWS's rules are checked here too, so that a hand-edited
 * entry is held to them. The agent's config lists it among its tunnels; verify turns it into
 * two tunnels, `<name>-t1` and `<name>-t2` (agent/src/config/aws-vpn.ts).
 */

/** A rule from rules.ts as a zod refinement, so the issue carries the field path. */
function rule<T>(check: (v: T) => Problem) {
  return (v: T, ctx: z.core.$RefinementCtx<T>) => {
    const problem = check(v);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  };
}

const uniqueList = <T extends z.ZodType>(item: T) =>
  z
    .array(item)
    .min(1)
    .refine((list) => new Set(list).size === list.length, { message: "lists a value twice" });

const phase = (groups: readonly number[], lifetime: { min: number; max: number }) =>
  z.strictObject({
    encryption: uniqueList(z.enum(ENCRYPTION_ALGORITHMS)),
    integrity: uniqueList(z.enum(INTEGRITY_ALGORITHMS)),
    dhGroups: uniqueList(
      z
        .number()
        .int()
        .refine((g) => groups.includes(g), {
          message: `must be a Diffie-Hellman group AWS accepts here: ${groups.join(", ")}`,
        }),
    ),
    lifetimeS: z.number().int().min(lifetime.min).max(lifetime.max),
  });

/** Where the tunnel's key is: a file, mode 0600, as import-vpn writes it. */
const pskFile = z.strictObject({
  file: absPath.describe("file holding the key, mode 0600 or stricter"),
});

const insideSchema = z
  .strictObject({
    cidr: cidr.superRefine(rule(insideCidrProblem)).describe("the tunnel's /30 in 169.254.0.0/16"),
    local: ip.describe("this appliance's inside address (AWS: customer gateway)"),
    remote: ip.describe("AWS's inside address (virtual private gateway)"),
  })
  .superRefine(rule((v) => insideAddressesProblem(v.cidr, v.local, v.remote)));

const bgpSchema = z.strictObject({
  localAsn: z.number().superRefine(rule(asnProblem)),
  remoteAsn: z.number().superRefine(rule(asnProblem)),
  holdTimeS: z.number().superRefine(rule(holdTimeProblem)),
});

export const awsVpnTunnelSchema = z
  .strictObject({
    outside: z.strictObject({
      local: ip.describe("this appliance's public address (AWS: customer gateway)"),
      remote: ip.describe("AWS's tunnel endpoint"),
    }),
    inside: insideSchema,
    psk: pskFile,
    ikeVersions: uniqueList(z.enum(IKE_VERSIONS)),
    phase1: phase(PHASE1_DH_GROUPS, PHASE1_LIFETIME),
    phase2: phase(PHASE2_DH_GROUPS, PHASE2_LIFETIME),
    dpd: z.strictObject({
      delayS: z.number().int().min(1).max(3600),
      timeoutS: z.number().int().superRefine(rule(dpdTimeoutProblem)),
    }),
    bgp: bgpSchema.optional().describe("required when routing is bgp"),
    ifId: xfrmIfId.optional(),
  })
  .superRefine((t, ctx) => {
    const problem = phase2LifetimeProblem(t.phase2.lifetimeS, t.phase1.lifetimeS);
    if (problem) ctx.addIssue({ code: "custom", path: ["phase2", "lifetimeS"], message: problem });
  });

export const awsVpnEntrySchema = z
  .strictObject({
    name,
    type: z.literal("aws-vpn").describe("both tunnels of an AWS Site-to-Site VPN connection"),
    vpnConnectionId: z.string().regex(/^vpn-[0-9a-f]{8,17}$/, {
      message: "must be a VPN connection id such as vpn-0123456789abcdef0",
    }),
    routing: z.enum(["static", "bgp"]),
    staticRoutes: z
      .array(cidr)
      .optional()
      .describe(
        "the VPN connection's static routes: this side's prefixes, which AWS routes to the customer gateway",
      ),
    remotePrefixes: z
      .array(cidr)
      .min(1)
      .optional()
      .describe(
        "the networks behind AWS (e.g. the VPC's CIDRs); with static routing the agent routes them over the tunnel that carries",
      ),
    localNetworkCidr: cidr.optional().describe("traffic selector on this side; default 0.0.0.0/0"),
    remoteNetworkCidr: cidr
      .optional()
      .describe("traffic selector on AWS's side; default 0.0.0.0/0"),
    tunnels: z.array(awsVpnTunnelSchema).length(2, { message: "must list both tunnels, 2" }),
    advertise: z
      .array(cidr)
      .min(1)
      .optional()
      .describe(
        "the networks this side announces to AWS over BGP (e.g. the VPC's CIDRs); required with routing bgp",
      ),
    probe: z
      .strictObject({
        intervalMs: z.number().int().min(50).max(60000).default(500),
        fall: z.number().int().min(1).max(100).default(3),
        rise: z.number().int().min(1).max(100).default(2),
      })
      .default({ intervalMs: 500, fall: 3, rise: 2 })
      .describe(
        "ping of AWS's inside address over the tunnel that carries; a fall moves the traffic to the other tunnel",
      ),
  })
  .superRefine((entry, ctx) => {
    for (const [i, t] of entry.tunnels.entries()) {
      if (entry.routing === "bgp" && !t.bgp)
        ctx.addIssue({
          code: "custom",
          path: ["tunnels", i, "bgp"],
          message: "is required with routing bgp",
        });
      if (entry.routing === "static" && t.bgp)
        ctx.addIssue({
          code: "custom",
          path: ["tunnels", i, "bgp"],
          message: "is only for routing bgp",
        });
    }
    const [a, b] = entry.tunnels;
    if (a && b && a.inside.cidr === b.inside.cidr)
      ctx.addIssue({
        code: "custom",
        path: ["tunnels", 1, "inside", "cidr"],
        message: "is the same /30 as tunnel 1's; AWS gives each tunnel its own",
      });
    if (a && b && a.outside.remote === b.outside.remote)
      ctx.addIssue({
        code: "custom",
        path: ["tunnels", 1, "outside", "remote"],
        message: "is tunnel 1's endpoint too; AWS gives each tunnel its own",
      });
  });

export type AwsVpnEntryInput = z.input<typeof awsVpnEntrySchema>;
export type AwsVpnEntry = z.output<typeof awsVpnEntrySchema>;
