import type { ConfigInput } from "../../../common/agent-config/schema.ts";
import { pskParameterName } from "../../../common/psk-names.ts";
import type { Appliance, Fleet } from "../fleet/types.ts";
import { awsVpnParts, type VpnConnections } from "./aws-vpn.ts";
import { forAppliance, type RenderFacts } from "./facts.ts";
import type { Mesh } from "./mesh.ts";

/**
 * One appliance's agent config (docs/configuration.md), from its mesh and the facts rendering
 * checked: typed as the agent's own input, so a field the agent does not know is a type error.
 */
export function agentConfig(
  fleet: Fleet,
  appliance: Appliance,
  mesh: Mesh,
  facts: RenderFacts,
  pskPrefix: string,
  vpns: VpnConnections,
): ConfigInput {
  const { settings } = facts;
  const own = addressOf(facts, appliance.name);
  const path = (p: string) => forAppliance(p, appliance.name);
  const cidrs = (name: string) => {
    const vpc = fleet.appliances.find((a) => a.name === name)?.vpc;
    return [...(fleet.vpcs.find((v) => v.name === vpc)?.cidrs ?? [])];
  };
  const { agent } = appliance;
  const { endpoint } = fleet.keys?.ssm ?? {};
  const tunnels = mesh.tunnels.map((t) => {
    const far = addressOf(facts, t.far);
    return {
      name: t.far,
      type: "peer" as const,
      remoteAddress: far.public,
      localId: own.public,
      remoteId: far.public,
      psk: { ssm: pskParameterName(pskPrefix, appliance.name, t.far) },
      localSubnets: cidrs(appliance.name),
      remoteSubnets: cidrs(t.far),
      probe: { source: own.private, target: far.private, ...settings.probe },
      crypto: { preset: settings.crypto.preset },
      priority: t.priority,
      // The XFRM interface towards a far appliance has one id on every appliance: its place
      // in the fleet's list, so that appending appliances keeps every existing id.
      ...(settings.datapath === "kernel" && {
        ifId: fleet.appliances.findIndex((a) => a.name === t.far) + 1,
      }),
    };
  });
  // Without a source of its own, a path probe would leave through this appliance's own
  // tunnel (the probe's source and target are those of a tunnel probe) and measure that.
  const paths = own.pathSource
    ? mesh.paths.map((p) => ({
        name: p.connection,
        target: addressOf(facts, p.target).private,
        source: own.pathSource,
        ...settings.probe,
      }))
    : [];
  const aws = awsVpnParts(fleet, appliance.name, facts, vpns);
  return {
    appliance: { name: appliance.name, localAddress: own.private, publicAddress: own.public },
    datapath: settings.datapath,
    charon: {
      mode: settings.charon.mode,
      ...(settings.charon.vici !== undefined && { vici: path(settings.charon.vici) }),
    },
    stateDir: path(settings.stateDir),
    api: {
      socket: agent.kind === "unix" ? agent.path : path(settings.api.socket),
      ...(agent.kind === "https" && { listen: listen(agent.url, own.private, settings, path) }),
    },
    ssm: { region: fleet.region, ...(endpoint !== undefined && { endpoint }) },
    tunnels: [...tunnels, ...aws.entries],
    ...(paths.length + aws.paths.length > 0 && { paths: [...paths, ...aws.paths] }),
  };
}

// renderFacts proved these; failing here is a bug, not a fleet file to fix.

function addressOf(facts: RenderFacts, name: string) {
  const address = facts.addresses.get(name);
  if (address === undefined) throw new Error(`agentConfig: no address for ${name}`);
  return address;
}

/** The controller dials the URL's port; the agent listens on its private address. */
function listen(
  url: string,
  address: string,
  settings: RenderFacts["settings"],
  path: (p: string) => string,
) {
  const { tls } = settings.api;
  if (tls === undefined) throw new Error("agentConfig: an https agent without agents.api.tls");
  const port = Number(new URL(url).port);
  return { address, port, tls: { ca: path(tls.ca), cert: path(tls.cert), key: path(tls.key) } };
}
