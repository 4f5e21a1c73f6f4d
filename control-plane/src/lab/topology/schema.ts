import { z } from "zod";
import { cidr } from "../../../../common/schema-fields.ts";
import { quote } from "../../../../common/text.ts";
import { failoverSchema } from "../../fleet/schema.ts";

/**
 * The lab topology file (swanpair-lab.yml), as a person writes it. Shape rules live here; rules
 * across fields (names, overlaps, pairs, addresses) live in verify.ts. No address of a node is
 * written down: load.ts derives them all (docs/lab-topology.md).
 */

/**
 * Lowercase DNS labels that start with a letter: they end up in container and network names
 * (swanpair-<lab>-<node>), in host names, and as the fleet's appliance, VPC and pair names.
 */
export const LABEL_PATTERN = /^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

const label = z.string().regex(LABEL_PATTERN, {
  error: (iss) =>
    `${quote(String(iss.input))} must be a lowercase DNS label: a letter, then letters, digits and '-', not ending in '-' (1-63 chars)`,
});

/**
 * Failover timers for a lab, also every agent probe's: a dead appliance is seen within about a
 * second (measured in docs/benchmarks.md), not tens of seconds.
 */
export const LAB_FAILOVER = {
  intervalMs: 200,
  fall: 2,
  rise: 2,
  holdDownMs: 5000,
  preempt: false,
} as const;

export const LAB_DEFAULTS = {
  region: "eu-west-1",
  internet: { cidr: "198.18.0.0/24" },
  controller: { mode: "central" },
  router: { pollMs: 200, followDelayMs: 0 },
  traffic: { ratePps: 50, port: 5201 },
} as const;

const subnetSchema = z.strictObject({
  name: label,
  cidr: cidr.describe("inside the VPC's cidr; its first address is the VPC router's (gateway)"),
  az: z
    .string()
    .regex(/^[a-z]$/, { message: 'must be a zone letter such as "a"; the zone is <region><az>' })
    .default("a")
    .describe("availability zone letter; every node in the subnet is in <region><az>"),
});

const nodeSchema = z.strictObject({
  name: label.describe(
    "unique among every node of the lab; its container is swanpair-<lab>-<name>",
  ),
  subnet: label.describe("name of a subnet of this VPC"),
});

const vpcSchema = z.strictObject({
  name: label.describe("its Docker network is swanpair-<lab>-<name>"),
  cidr: cidr.describe("the VPC's block, 10.X.0.0/16-style (X below 250); one Docker network"),
  subnets: z.array(subnetSchema).min(1),
  appliances: z
    .array(nodeSchema)
    .describe("exactly two: the VPC's pair (<vpc>-pair); give them subnets in two zones"),
  preferred: label
    .optional()
    .describe("the appliance that carries the routes when both are healthy; default: the first"),
  hosts: z
    .array(nodeSchema)
    .default([])
    .describe("workload hosts that send and answer the lab's traffic"),
});

const connectionSchema = z.strictObject({
  name: label.optional().describe("default: <vpc>-<vpc>, the two VPCs in the order of between"),
  between: z.array(label).describe("two VPC names: their pairs run the tunnels between them"),
});

export const labSchema = z.strictObject({
  name: label.describe("the lab's name: swanpair-<name> prefixes every container and network"),
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, { message: "must be an AWS region such as eu-west-1" })
    .default(LAB_DEFAULTS.region)
    .describe("the region moto holds the lab's VPCs in"),
  internet: z
    .strictObject({
      cidr: cidr
        .default(LAB_DEFAULTS.internet.cidr)
        .describe(
          "the network of the Elastic IPs, inside 198.18.0.0/15; the machine takes its last address",
        ),
    })
    .default(LAB_DEFAULTS.internet)
    .describe("the internet between the VPCs' gateways"),
  controller: z
    .strictObject({
      mode: z
        .enum(["central", "colocated"])
        .default(LAB_DEFAULTS.controller.mode)
        .describe("central: one controller container; colocated: one on every appliance (--self)"),
    })
    .default(LAB_DEFAULTS.controller),
  failover: failoverSchema(LAB_FAILOVER).describe("the fleet file's failover section"),
  router: z
    .strictObject({
      pollMs: z
        .number()
        .int()
        .min(50)
        .max(60_000)
        .default(LAB_DEFAULTS.router.pollMs)
        .describe("how often each VPC router reads its route table from moto"),
      followDelayMs: z
        .number()
        .int()
        .min(0)
        .max(60_000)
        .default(LAB_DEFAULTS.router.followDelayMs)
        .describe("how long a router waits before following a changed route, as EC2 may"),
    })
    .default(LAB_DEFAULTS.router)
    .describe("the VPC routers, which make the route tables real"),
  traffic: z
    .strictObject({
      ratePps: z
        .number()
        .int()
        .min(1)
        .max(10_000)
        .default(LAB_DEFAULTS.traffic.ratePps)
        .describe("packets per second each host sends to the far hosts"),
      port: z
        .number()
        .int()
        .min(1)
        .max(65_535)
        .default(LAB_DEFAULTS.traffic.port)
        .describe("the port the hosts' traffic goes to (iperf3's default)"),
    })
    .default(LAB_DEFAULTS.traffic)
    .describe("the steady traffic between the hosts of connected VPCs, counted for loss"),
  vpcs: z.array(vpcSchema).min(1),
  connections: z.array(connectionSchema).default([]),
});

/** The file after zod applied defaults. */
export type ParsedLab = z.output<typeof labSchema>;
