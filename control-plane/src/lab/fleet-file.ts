import { posix } from "node:path";
import type { z } from "zod";
import type { fleetSchema } from "../fleet/schema.ts";
import type { LabEc2Ids, LabPlan } from "./plan.ts";
import { FLEET_TAG_KEY } from "./topology/names.ts";

/**
 * The fleet file of a seeded lab, as the tree an operator would write (docs/fleet-config.md):
 * the controller and `swanpair agents render` read it like any other. Pure.
 */

/** The agents' HTTPS listeners, on each appliance's private address. */
export const LAB_AGENT_PORT = 7443;

/** File names under `tlsDir`: the CA on every node, the server pair on appliances, the client pair on controllers. */
export const LAB_TLS_FILES = {
  ca: "ca.crt",
  serverCert: "server.crt",
  serverKey: "server.key",
  clientCert: "client.crt",
  clientKey: "client.key",
} as const;

export interface LabFleetOptions {
  ec2Endpoint: string;
  ssmEndpoint: string;
  /** Where the TLS files are inside the containers, e.g. /etc/swanpair/tls. */
  tlsDir: string;
  /** The agents' runtime directory inside the appliance containers. */
  stateDir: string;
}

/** The fleet file as written, before the loader's defaults. */
export type FleetFileTree = z.input<typeof fleetSchema>;

export function labFleet(plan: LabPlan, ids: LabEc2Ids, opts: LabFleetOptions): FleetFileTree {
  const file = (name: string) => posix.join(opts.tlsDir, name);
  const pairOf = (vpc: string) => {
    const found = plan.vpcs.find((v) => v.name === vpc);
    if (found === undefined) throw new Error(`labFleet: no VPC ${vpc}`);
    return found.pair.name;
  };
  return {
    region: plan.region,
    endpoint: opts.ec2Endpoint,
    tag: { key: FLEET_TAG_KEY, value: plan.lab },
    tls: {
      ca: file(LAB_TLS_FILES.ca),
      cert: file(LAB_TLS_FILES.clientCert),
      key: file(LAB_TLS_FILES.clientKey),
    },
    vpcs: plan.vpcs.map((v) => {
      const seeded = seededVpc(ids, v.name);
      return { name: v.name, id: seeded.id, cidrs: [v.cidr], routeTables: [seeded.routeTable] };
    }),
    appliances: plan.vpcs.flatMap((v) =>
      v.appliances.map((a) => {
        const seeded = ids.appliances[a.name];
        if (seeded === undefined) throw new Error(`labFleet: appliance ${a.name} was not seeded`);
        return {
          name: a.name,
          vpc: v.name,
          instanceId: seeded.instanceId,
          eni: seeded.eni,
          az: a.az,
          agent: `https://${a.address}:${LAB_AGENT_PORT}`,
          address: { private: a.address, public: a.public, pathSource: a.pathSource },
        };
      }),
    ),
    pairs: plan.vpcs.map((v) => ({
      name: v.pair.name,
      members: v.appliances.map((a) => a.name),
      preferred: v.pair.preferred,
    })),
    connections: plan.connections.map((c) => ({ name: c.name, between: c.between.map(pairOf) })),
    failover: plan.failover,
    agents: {
      // Containers have no kernel ESP here (CONVENTIONS): charon's userspace datapath.
      datapath: "libipsec",
      stateDir: opts.stateDir,
      charon: { mode: "child" },
      api: {
        tls: {
          ca: file(LAB_TLS_FILES.ca),
          cert: file(LAB_TLS_FILES.serverCert),
          key: file(LAB_TLS_FILES.serverKey),
        },
      },
      // One set of timers for the lab: the agents' probes run at the controller's pace.
      probe: {
        intervalMs: plan.failover.intervalMs,
        fall: plan.failover.fall,
        rise: plan.failover.rise,
      },
    },
    keys: { ssm: { prefix: `/swanpair/${plan.lab}`, endpoint: opts.ssmEndpoint } },
  };
}

function seededVpc(ids: LabEc2Ids, vpc: string) {
  const seeded = ids.vpcs[vpc];
  if (seeded === undefined) throw new Error(`labFleet: VPC ${vpc} was not seeded`);
  return seeded;
}
