import type { LabAppliance, LabHost, LabNodeName, LabPlan, LabVpc } from "../plan.ts";
import type { LabAddresses, VpcAddresses } from "./addresses.ts";
import {
  CONTROLLER_NODE,
  containerName,
  defaultConnectionName,
  INTERNET_NETWORK,
  labPrefix,
  networkName,
  pairName,
  routerNode,
} from "./names.ts";
import type { ParsedLab } from "./schema.ts";
import { block } from "./verify.ts";

/**
 * The LabPlan of a topology that passed every rule: names and addresses filled in, so that
 * nothing downstream derives one on its own.
 */
export function resolveLab(parsed: ParsedLab, addresses: LabAddresses): LabPlan {
  const lab = parsed.name;
  const node = (name: string): LabNodeName => ({ name, container: containerName(lab, name) });
  const central = parsed.controller.mode === "central";
  const vpcs = parsed.vpcs.map((v) =>
    resolveVpc(parsed, v, must(addresses.vpcs.get(v.name), v.name), addresses, node),
  );
  return {
    lab,
    prefix: labPrefix(lab),
    region: parsed.region,
    internet: {
      network: networkName(lab, INTERNET_NETWORK),
      cidr: block(parsed.internet.cidr).text,
      hostAddress: addresses.internet.host,
    },
    controller: {
      mode: parsed.controller.mode,
      node: node(CONTROLLER_NODE),
      // Co-located, nothing holds it: it stays reserved so that addresses do not move with the mode.
      internetAddress: addresses.internet.controller,
      vpcAddresses: central
        ? Object.fromEntries(
            vpcs.map((v) => [v.name, must(addresses.vpcs.get(v.name)?.controller, v.name)]),
          )
        : {},
    },
    failover: parsed.failover,
    router: parsed.router,
    traffic: parsed.traffic,
    vpcs,
    connections: parsed.connections.map((c) => {
      const [a, b] = c.between as [string, string];
      return { name: c.name ?? defaultConnectionName(a, b), between: [a, b] };
    }),
  };
}

function resolveVpc(
  parsed: ParsedLab,
  v: ParsedLab["vpcs"][number],
  mine: VpcAddresses,
  addresses: LabAddresses,
  node: (name: string) => LabNodeName,
): LabVpc {
  const subnets = v.subnets.map((s) => ({
    name: s.name,
    cidr: block(s.cidr).text,
    gateway: must(mine.gateways.get(s.name), s.name),
    az: `${parsed.region}${s.az}`,
  }));
  const subnet = (name: string) =>
    must(
      subnets.find((s) => s.name === name),
      name,
    );
  const host = (n: { name: string; subnet: string }): LabHost => ({
    ...node(n.name),
    subnet: n.subnet,
    address: must(mine.nodes.get(n.name), n.name).address,
    gateway: subnet(n.subnet).gateway,
  });
  const appliances = v.appliances.map(
    (a): LabAppliance => ({
      ...host(a),
      public: must(addresses.internet.elasticIps.get(a.name), a.name),
      pathSource: must(mine.nodes.get(a.name)?.pathSource, a.name),
      az: subnet(a.subnet).az,
    }),
  );
  return {
    name: v.name,
    cidr: block(v.cidr).text,
    network: networkName(parsed.name, v.name),
    hostAddress: mine.host,
    subnets,
    router: {
      ...node(routerNode(v.name)),
      internetAddress: must(addresses.internet.routers.get(v.name), v.name),
    },
    pair: { name: pairName(v.name), preferred: v.preferred ?? must(v.appliances[0]?.name, v.name) },
    appliances,
    hosts: v.hosts.map(host),
  };
}

// The rules and the allocation proved these; failing here is a bug, not a file to fix.
function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`resolveLab: nothing resolved for ${what}`);
  return value;
}
