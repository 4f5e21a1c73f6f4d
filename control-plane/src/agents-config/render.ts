import { Document } from "yaml";
import type { ConfigInput } from "../../../common/agent-config/schema.ts";
import type { ConfigIssue } from "../../../common/yaml-config.ts";
import type { Appliance, Fleet } from "../fleet/types.ts";
import { keyPrefix } from "../keys/tunnel-keys.ts";
import { awsVpnIssues, type VpnConnections } from "./aws-vpn.ts";
import { agentConfig } from "./config.ts";
import { renderFacts } from "./facts.ts";
import { meshOf } from "./mesh.ts";

/**
 * `swanpair agents render`, the pure part: the fleet file to each appliance's agent config,
 * as data and as YAML. Deterministic: the same fleet gives the same bytes, so a config that
 * did not change can be told from one that did.
 */

export interface RenderedAgentConfig {
  appliance: string;
  config: ConfigInput;
  /** The config as YAML, after a comment naming the appliance. */
  yaml: string;
}

export type RenderAgentsResult =
  | { ok: true; configs: RenderedAgentConfig[] }
  | { ok: false; issues: ConfigIssue[] };

/**
 * Every appliance's config in the fleet's order, or only `appliance`'s (which must be one of
 * the fleet's). Facts the fleet file lacks for them come back as issues with their field paths.
 */
export function renderAgentConfigs(
  fleet: Fleet,
  options: { appliance?: string; vpns?: VpnConnections } = {},
): RenderAgentsResult {
  const vpns = options.vpns ?? new Map();
  const targets = fleet.appliances.filter(
    (a) => options.appliance === undefined || a.name === options.appliance,
  );
  if (targets.length === 0)
    throw new Error(`renderAgentConfigs: no appliance ${options.appliance}`);
  const rendered = targets.map((appliance) => ({ appliance, mesh: meshOf(fleet, appliance.name) }));
  const facts = renderFacts(fleet, rendered);
  const prefix = keyPrefix(fleet);
  const vpnIssues = targets.flatMap((a) => awsVpnIssues(fleet, a.name, publicOf(a), vpns));
  if (!facts.ok || !prefix.ok || vpnIssues.length > 0) {
    const issue = prefix.ok
      ? []
      : [{ path: "keys.ssm.prefix", rule: "required", message: `is required: ${prefix.problem}` }];
    return { ok: false, issues: [...(facts.ok ? [] : facts.issues), ...issue, ...vpnIssues] };
  }
  return {
    ok: true,
    configs: rendered.map(({ appliance, mesh }) => {
      const config = agentConfig(fleet, appliance, mesh, facts.facts, prefix.prefix, vpns);
      return { appliance: appliance.name, config, yaml: toYaml(appliance.name, config) };
    }),
  };
}

function publicOf(a: Appliance): string | undefined {
  return a.address?.public ?? a.address?.private;
}

function toYaml(appliance: string, config: ConfigInput): string {
  // No anchors and aliases even where two values are one object: a reader should not chase them.
  const doc = new Document(config, { aliasDuplicateObjects: false });
  doc.commentBefore = ` swanpair-agent config of ${appliance}, rendered from the fleet file by\n \`swanpair agents render\`: change the fleet file and render again rather than edit this.`;
  // One line per value however long, so that a diff of two renders shows whole values.
  return doc.toString({ lineWidth: 0 });
}
