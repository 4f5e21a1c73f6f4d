import { SOCKET_PATH_MAX } from "../../../common/agent-api/limits.ts";
import type { ConfigIssue } from "../../../common/yaml-config.ts";
import { APPLIANCE_PLACEHOLDER, DEFAULT_AGENTS } from "../fleet/schema.ts";
import type { AgentDefaults, Appliance, Fleet } from "../fleet/types.ts";
import type { Mesh } from "./mesh.ts";

/**
 * What rendering needs beyond what the controller needs, all optional in the fleet file: the
 * addresses of every appliance a rendered config names, and for https agents the listener's
 * TLS files. Missing ones are issues at the field to fill in, collected for every config at
 * once.
 */

export interface Addresses {
  private: string;
  /** The public address, defaulted to the private one. */
  public: string;
  pathSource?: string;
}

export interface RenderFacts {
  settings: AgentDefaults;
  /** Every appliance that a rendered config names, by name. */
  addresses: Map<string, Addresses>;
}

/** A path of `agents` for one appliance: `{appliance}` is its name. */
export function forAppliance(path: string, appliance: string): string {
  return path.replaceAll(APPLIANCE_PLACEHOLDER, appliance);
}

export function renderFacts(
  fleet: Fleet,
  rendered: ReadonlyArray<{ appliance: Appliance; mesh: Mesh }>,
): { ok: true; facts: RenderFacts } | { ok: false; issues: ConfigIssue[] } {
  const settings = fleet.agents ?? DEFAULT_AGENTS;
  const issues: ConfigIssue[] = [];
  // Each appliance named, with the configs that name it, in the fleet's order.
  const neededBy = new Map<string, Set<string>>();
  for (const { appliance, mesh } of rendered) {
    for (const name of [appliance.name, ...mesh.tunnels.map((t) => t.far)]) {
      neededBy.set(name, (neededBy.get(name) ?? new Set()).add(appliance.name));
    }
  }
  const addresses = new Map<string, Addresses>();
  fleet.appliances.forEach((a, i) => {
    const configs = neededBy.get(a.name);
    if (configs === undefined) return;
    if (a.address === undefined) {
      issues.push({
        path: `appliances[${i}].address`,
        rule: "required",
        message: `is required to render the agent config${configs.size === 1 ? "" : "s"} of ${[...configs].join(", ")}: give its private address (in its VPC) and, if it has one, its public address (its Elastic IP)`,
      });
      return;
    }
    addresses.set(a.name, { ...a.address, public: a.address.public ?? a.address.private });
  });
  const https = rendered.filter(({ appliance }) => appliance.agent.kind === "https");
  if (https.length > 0 && settings.api.tls === undefined) {
    issues.push({
      path: "agents.api.tls",
      rule: "required",
      message: `is required to render the agent configs of ${https.map((r) => r.appliance.name).join(", ")}: their agents are https://, and an agent's HTTPS listener needs its CA, certificate and key (ca, cert, key)`,
    });
  }
  issues.push(...socketIssues(settings, rendered));
  return issues.length > 0 ? { ok: false, issues } : { ok: true, facts: { settings, addresses } };
}

/**
 * The agent's sockets must fit sockaddr_un; with `{appliance}` a path may be too long for some
 * appliances only. A unix agent's API socket is its URL's path, which the fleet's rules check.
 * One issue per field, naming every appliance it is too long for.
 */
function socketIssues(
  settings: AgentDefaults,
  rendered: ReadonlyArray<{ appliance: Appliance }>,
): ConfigIssue[] {
  const tooLong = new Map<string, { names: string[]; socket: string }>();
  for (const { appliance: a } of rendered) {
    const vici = settings.charon.vici;
    const sockets: [string, string][] = [
      vici === undefined
        ? ["agents.stateDir", `${forAppliance(settings.stateDir, a.name)}/charon.vici`]
        : ["agents.charon.vici", forAppliance(vici, a.name)],
    ];
    if (a.agent.kind === "https") {
      sockets.push(["agents.api.socket", forAppliance(settings.api.socket, a.name)]);
    }
    for (const [path, socket] of sockets) {
      if (Buffer.byteLength(socket) <= SOCKET_PATH_MAX) continue;
      const found = tooLong.get(path) ?? { names: [], socket };
      tooLong.set(path, { ...found, names: [...found.names, a.name] });
    }
  }
  return [...tooLong].map(([path, { names, socket }]) => ({
    path,
    rule: "path-length",
    message: `makes socket paths too long for ${names.join(", ")}: ${socket} is ${Buffer.byteLength(socket)} bytes; Unix sockets allow at most ${SOCKET_PATH_MAX}`,
  }));
}
