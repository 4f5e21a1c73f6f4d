import { isIP } from "node:net";
import { SwpError } from "../errors.ts";
import { DEFAULT_IMDS_TIMEOUT_MS, ImdsClient } from "./client.ts";

/**
 * What swanpair learns about the EC2 instance it runs on, from IMDS. Each value is checked
 * against the shape EC2 gives it, so that a wrong answer fails here and not in charon.
 */

export interface Instance {
  instanceId: string;
  /** local-ipv4: the primary ENI's private IP. */
  privateIp: string;
  /** public-ipv4: the Elastic IP (or an auto-assigned public IP); absent when it has none. */
  publicIp?: string;
  /** The primary ENI, found through its MAC address. */
  eni: string;
  availabilityZone: string;
  region: string;
}

/** Asks for every field of Instance; injectable where IMDS is used, so tests can fake it. */
export type Discover = () => Promise<Instance>;

export const IMDS_ENDPOINT_ENV = "SWANPAIR_IMDS_ENDPOINT";
export const IMDS_TIMEOUT_ENV = "SWANPAIR_IMDS_TIMEOUT_MS";

/** The client as the environment configures it: endpoint and per-request timeout. */
export function imdsFromEnv(env: NodeJS.ProcessEnv = process.env): ImdsClient {
  const timeout = env[IMDS_TIMEOUT_ENV];
  const timeoutMs = timeout === undefined ? DEFAULT_IMDS_TIMEOUT_MS : Number(timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 60_000)
    throw new SwpError(
      "SWP_ERR_IMDS_UNAVAILABLE",
      `${IMDS_TIMEOUT_ENV}=${timeout} must be milliseconds, 1 to 60000`,
    );
  return new ImdsClient({ endpoint: env[IMDS_ENDPOINT_ENV] || undefined, timeoutMs });
}

/** The default Discover: a fresh client from the environment per call. */
export const discoverFromEnv: Discover = () => discoverInstance(imdsFromEnv());

const SHAPES = {
  instanceId: /^i-[0-9a-f]{8,17}$/,
  mac: /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/,
  eni: /^eni-[0-9a-f]{8,17}$/,
  availabilityZone: /^[a-z]{2}(-[a-z0-9]+)+[a-z]$/,
  region: /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/,
};

export async function discoverInstance(imds: ImdsClient): Promise<Instance> {
  const required = async (path: string, shape: RegExp | "ip") => {
    const value = (await imds.get(path))?.trim();
    if (value === undefined)
      throw new SwpError(
        "SWP_ERR_IMDS_UNAVAILABLE",
        `IMDS at ${imds.endpoint} has no meta-data/${path}`,
      );
    if (shape === "ip" ? isIP(value) === 0 : !shape.test(value))
      throw new SwpError(
        "SWP_ERR_IMDS_UNAVAILABLE",
        `IMDS at ${imds.endpoint} answered meta-data/${path} with ${JSON.stringify(value.slice(0, 80))}, which is not what EC2 sends`,
      );
    return value;
  };
  // mac first: the ENI's path needs it, and the token its GET fetches serves the rest.
  const mac = await required("mac", SHAPES.mac);
  const [instanceId, privateIp, publicIp, eni, availabilityZone, region] = await Promise.all([
    required("instance-id", SHAPES.instanceId),
    required("local-ipv4", "ip"),
    imds.get("public-ipv4").then((v) => (v === undefined ? undefined : checkIp(imds, v.trim()))),
    required(`network/interfaces/macs/${mac}/interface-id`, SHAPES.eni),
    required("placement/availability-zone", SHAPES.availabilityZone),
    required("placement/region", SHAPES.region),
  ]);
  return { instanceId, privateIp, ...(publicIp && { publicIp }), eni, availabilityZone, region };
}

function checkIp(imds: ImdsClient, value: string): string {
  if (isIP(value) !== 0) return value;
  throw new SwpError(
    "SWP_ERR_IMDS_UNAVAILABLE",
    `IMDS at ${imds.endpoint} answered meta-data/public-ipv4 with ${JSON.stringify(value.slice(0, 80))}, which is not an IP address`,
  );
}
