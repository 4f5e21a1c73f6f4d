import { z } from "zod";
import { awsVpnEntrySchema } from "../aws-vpn/schema.ts";
import { absPath, cidr, ip, NAME_PATTERN, name, xfrmIfId } from "../schema-fields.ts";
import { quote } from "../text.ts";

/**
 * A tunnel's probe gets a CHILD_SA of its own, source/32 to target/32, ranked above every
 * carrying child (explicitly when tunnels set `priority`), so it crosses its own tunnel.
 */
export const PROBE_CHILD_PRIORITY = 1;

/**
 * The agent's configuration file, as the user writes it. Shape rules live here;
 * rules that need more than one field or the file system live in verify.ts.
 */

export { NAME_PATTERN };

/**
 * IKE identities are sent on the wire and rendered in swanctl text; keep them printable: ASCII
 * 0x21-0x7e without " (0x22) or \ (0x5c). One pattern, so the JSON Schema refuses the same.
 */
const identity = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, {
    error: (iss) =>
      `${quote(String(iss.input))} must be printable ASCII without spaces, quotes or backslashes`,
  });

/**
 * An SSM parameter name, as GetParameters takes it: one name, or a path of names starting with
 * "/"; letters, digits and _ . - (SSM's own rule), at most 1011 characters.
 */
const ssmParameterName = z
  .string()
  .max(1011)
  .regex(/^(?:[A-Za-z0-9_.-]+|(?:\/[A-Za-z0-9_.-]+)+)$/, {
    error: (iss) =>
      `${quote(String(iss.input))} is not an SSM parameter name: letters, digits and _ . -, as one name or a path such as /swanpair/prod/psk/a1/b1`,
  });

/** Where a tunnel's key is: exactly one of the two (checked by verify; oneOf for editors). */
const pskSchema = z
  .strictObject({
    file: absPath.optional().describe("file holding the key, mode 0600 or stricter"),
    ssm: ssmParameterName
      .optional()
      .describe("SSM parameter (a SecureString) holding the key; needs the top-level ssm section"),
  })
  .meta({ oneOf: [{ required: ["file"] }, { required: ["ssm"] }] });

const proposal = z.string().regex(/^[a-z0-9_]+(-[a-z0-9_]+)*$/, {
  message: "must be a strongSwan proposal such as aes256gcm16-prfsha384-x25519",
});

/** The UDP port of the probe responders, unless a probe names another. */
export const PROBE_PORT = 7208;
const probePort = z.number().int().min(1).max(65535);

export const probeSchema = z.strictObject({
  target: ip.describe("inside address of the far end that answers probes (its agent)"),
  source: ip.describe("inside address on this appliance; the agent answers probes here"),
  port: probePort.default(PROBE_PORT),
  intervalMs: z.number().int().min(50).max(60000).default(1000),
  timeoutMs: z.number().int().min(10).max(60000).optional(),
  fall: z.number().int().min(1).max(100).default(3),
  rise: z.number().int().min(1).max(100).default(2),
});

/**
 * A probe from this appliance to the far VPC along the VPC's routes, so through whichever
 * member those routes point at: the standby's outside view of the active member. It takes the
 * tunnel probe's settings, with a name, a method and an optional source, and runs no
 * responder. port and timeoutMs have no default here: verify refuses them with icmp, so it
 * must see whether they were written.
 */
export const pathSchema = z.strictObject({
  name: name.describe("the fleet connection it measures: the controller looks paths up by it"),
  method: z
    .enum(["udp", "icmp"])
    .default("udp")
    .describe(
      "udp: the swanpair probe protocol to a far agent; icmp: ICMP echo (iputils ping) to any host that answers it, e.g. one behind an AWS VPN gateway",
    ),
  ...probeSchema.shape,
  target: ip.describe(
    "address in the far VPC that answers: a swanpair agent (udp), any host (icmp)",
  ),
  source: ip
    .optional()
    .describe("address on this appliance to send from; default: the kernel's choice"),
  port: probePort.optional().describe(`udp only: the far responder's port; default ${PROBE_PORT}`),
  timeoutMs: probeSchema.shape.timeoutMs.describe(
    "udp only: how long to wait for each answer; default min(intervalMs, 1000)",
  ),
});

export const cryptoSchema = z.strictObject({
  preset: z
    .enum(["modern", "aws-compatible"])
    .default("modern")
    .describe("modern: AEAD, SHA-2, curve25519/MODP-3072. aws-compatible: what AWS VPN accepts"),
  ike: z.array(proposal).min(1).optional().describe("replaces the preset's IKE proposals"),
  esp: z.array(proposal).min(1).optional().describe("replaces the preset's ESP proposals"),
  allowWeak: z
    .boolean()
    .default(false)
    .describe("permit proposals with SHA-1, MD5, 3DES, MODP-1024 and similar"),
});

export const tunnelSchema = z.strictObject({
  name,
  type: z.literal("peer").describe("software site-to-site to any IKEv2 peer"),
  remoteAddress: ip,
  localId: identity.optional(),
  remoteId: identity.optional(),
  psk: pskSchema,
  localSubnets: z.array(cidr).min(1),
  remoteSubnets: z.array(cidr).min(1),
  probe: probeSchema.optional(),
  crypto: cryptoSchema.default({ preset: "modern", allowWeak: false }),
  startAction: z.enum(["start", "trap", "none"]).default("start"),
  dpdDelayS: z.number().int().min(0).max(3600).default(10),
  priority: z
    .number()
    .int()
    .min(PROBE_CHILD_PRIORITY + 1, {
      message: `must be at least ${PROBE_CHILD_PRIORITY + 1}: ${PROBE_CHILD_PRIORITY} and below are kept for the tunnels' probe CHILD_SAs`,
    })
    .max(65535)
    .optional()
    .describe("CHILD_SA policy priority; the lower value wins between equal selectors"),
  ifId: xfrmIfId.optional(),
});

/**
 * The network listener. `tls` is required, not defaulted: a network API without client
 * certificates would let anyone on the network terminate tunnels.
 */
const listenSchema = z.strictObject({
  address: ip.describe("address to listen on, e.g. the appliance's private IP"),
  port: z.number().int().min(1).max(65535),
  tls: z.strictObject({
    ca: absPath.describe(
      "CA certificate(s), PEM; only clients with a certificate from it get in, and only those with OU=swanpair-operator in the subject may POST",
    ),
    cert: absPath.describe("this agent's server certificate (chain), PEM"),
    key: absPath.describe("the server certificate's private key, PEM; mode 0600 or stricter"),
  }),
});

export const configSchema = z.strictObject({
  appliance: z.strictObject({
    name,
    localAddress: ip
      .optional()
      .describe(
        "address charon binds for IKE (on EC2: the private IP); default: asked of IMDS, with publicAddress",
      ),
    publicAddress: ip
      .optional()
      .describe(
        "address peers dial; the default IKE id (on EC2: the EIP); asked of IMDS only when localAddress is",
      ),
  }),
  datapath: z
    .enum(["libipsec", "kernel"])
    .default("libipsec")
    .describe("libipsec: userspace ESP (containers, labs). kernel: XFRM interfaces (EC2)"),
  charon: z
    .strictObject({
      mode: z.enum(["child", "external"]).default("child"),
      vici: absPath.optional().describe("VICI socket; default <stateDir>/charon.vici"),
      binary: absPath.default("/usr/sbin/charon-systemd"),
      pluginDir: absPath
        .default("/usr/lib/ipsec/plugins")
        .describe("where this machine's charon finds its plugins; read by the preflight only"),
      startTimeoutMs: z.number().int().min(100).max(120000).default(15000),
    })
    .default({
      mode: "child",
      binary: "/usr/sbin/charon-systemd",
      pluginDir: "/usr/lib/ipsec/plugins",
      startTimeoutMs: 15000,
    }),
  stateDir: absPath,
  api: z.strictObject({
    socket: absPath.describe("the local API's Unix socket, mode 0600"),
    listen: listenSchema
      .optional()
      .describe("also serve the API over HTTPS with mutual TLS, for the control plane"),
  }),
  log: z
    .strictObject({
      level: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info"),
    })
    .default({ level: "info" }),
  ssm: z
    .strictObject({
      region: z
        .string()
        .regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, {
          message: "must be an AWS region such as us-east-1",
        })
        .optional()
        .describe("default: the instance's region, asked of IMDS"),
      endpoint: z
        .url({ protocol: /^https?$/, message: "must be an http:// or https:// URL" })
        .optional()
        .describe("SSM endpoint override (moto, VPC endpoints); AWS_ENDPOINT_URL_SSM also works"),
    })
    .optional()
    .describe(
      "SSM Parameter Store, for tunnels whose key is psk.ssm; credentials from the SDK's default chain (on EC2: the instance role)",
    ),
  tunnels: z
    .array(z.discriminatedUnion("type", [tunnelSchema, awsVpnEntrySchema]))
    .default([])
    .describe("peer: one IKEv2 tunnel; aws-vpn: both tunnels of an AWS VPN connection"),
  paths: z
    .array(pathSchema)
    .default([])
    .describe("probes to the far VPCs through this VPC's routes, named after fleet connections"),
});

/** The file as written (before defaults). */
export type ConfigInput = z.input<typeof configSchema>;
/** The file after zod applied defaults; IMDS may still have fields to fill in. */
export type WrittenConfig = z.output<typeof configSchema>;
/**
 * After discovery filled in what the file left out (agent/src/config/discover.ts): what
 * verify.ts checks.
 */
export type ParsedConfig = Omit<WrittenConfig, "appliance" | "ssm"> & {
  appliance: WrittenConfig["appliance"] & { localAddress: string };
  ssm?: NonNullable<WrittenConfig["ssm"]> & { region: string };
};
type ParsedEntry = ParsedConfig["tunnels"][number];
/** A `type: peer` tunnel entry. */
export type ParsedTunnel = Extract<ParsedEntry, { type: "peer" }>;
/** A `type: aws-vpn` entry: both tunnels of one AWS VPN connection. */
export type ParsedAwsVpn = Extract<ParsedEntry, { type: "aws-vpn" }>;
export type ParsedPath = ParsedConfig["paths"][number];
