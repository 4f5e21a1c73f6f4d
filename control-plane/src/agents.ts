import { readFileSync } from "node:fs";
import { ApiClient, type ApiClientOptions } from "../../common/agent-api/client.ts";
import type { TlsMaterial } from "../../common/agent-api/tls.ts";
import { SwpError } from "../../common/errors.ts";
import { errnoText } from "../../common/regular-file.ts";
import { Secret } from "../../common/secret.ts";
import type { Appliance, Fleet } from "./fleet/types.ts";

/**
 * How the controller reaches each agent: the agent's Unix socket, or HTTPS with the fleet's
 * client certificate. The TLS files are read once per loaded fleet, so a controller polling
 * every agent each tick does not re-read them, and a reloaded fleet picks up new ones.
 */

type TlsPaths = Extract<Appliance["agent"], { kind: "https" }>["tls"];

const material = new WeakMap<Fleet, Map<string, TlsMaterial>>();

/**
 * Throws SwpError SWP_ERR_API_UNREACHABLE when the fleet's TLS files cannot be read or parsed
 * (they were only checked to exist when the fleet was loaded).
 */
export function agentClient(
  fleet: Fleet,
  appliance: Appliance,
  options?: ApiClientOptions,
): ApiClient {
  const { agent } = appliance;
  if (agent.kind === "unix") return new ApiClient({ socketPath: agent.path }, options);
  return new ApiClient({ url: agent.url, tls: tlsOf(fleet, agent.url, agent.tls) }, options);
}

function tlsOf(fleet: Fleet, url: string, paths: TlsPaths): TlsMaterial {
  const cache = material.get(fleet) ?? new Map<string, TlsMaterial>();
  material.set(fleet, cache);
  const key = JSON.stringify([paths.ca, paths.cert, paths.key]);
  const cached = cache.get(key);
  if (cached) return cached;
  const read = (path: string) => {
    try {
      return readFileSync(path, "latin1");
    } catch (err) {
      throw new SwpError(
        "SWP_ERR_API_UNREACHABLE",
        `agent API at ${url}: cannot read TLS file ${path}: ${errnoText(err)}`,
        undefined,
        { cause: err },
      );
    }
  };
  const tls = { ca: read(paths.ca), cert: read(paths.cert), key: new Secret(read(paths.key)) };
  cache.set(key, tls);
  return tls;
}
