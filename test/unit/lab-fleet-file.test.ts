import t from "tap";
import { stringify } from "yaml";
import { loadConfigText } from "../../agent/src/config/load.ts";
import { formatLoadResult } from "../../common/yaml-config.ts";
import { renderAgentConfigs } from "../../control-plane/src/agents-config/render.ts";
import { connectionPairs } from "../../control-plane/src/fleet/connections.ts";
import { loadFleetText } from "../../control-plane/src/fleet/load.ts";
import { managedRoutes } from "../../control-plane/src/fleet/routes.ts";
import { LAB_AGENT_PORT, labFleet } from "../../control-plane/src/lab/fleet-file.ts";
import type { LabEc2Ids, LabPlan } from "../../control-plane/src/lab/plan.ts";
import { LAB_NAMES, labPlan, labTlsReader } from "../fixtures/labs.ts";
import { fakeSsm } from "../helpers/fake-ssm.ts";

/**
 * The lab's fleet file: for every valid lab, the real fleet loader takes it without an error
 * or a warning, `swanpair agents render` renders every appliance's config from it, and the
 * agent's own loader takes each of those.
 */

const OPTIONS = {
  ec2Endpoint: "http://198.18.0.254:5000",
  ssmEndpoint: "http://198.18.0.254:5000",
  tlsDir: "/etc/swanpair/tls",
  stateDir: "/var/lib/swanpair",
};

/** Ids as moto would hand them out: hex, one per resource. */
function fakeIds(plan: LabPlan): LabEc2Ids {
  let n = 0;
  const id = (prefix: string) => `${prefix}-${(++n).toString(16).padStart(8, "0")}`;
  return {
    vpcs: Object.fromEntries(
      plan.vpcs.map((v) => [
        v.name,
        {
          id: id("vpc"),
          routeTable: id("rtb"),
          internetGateway: id("igw"),
          subnets: Object.fromEntries(v.subnets.map((s) => [s.name, id("subnet")])),
        },
      ]),
    ),
    appliances: Object.fromEntries(
      plan.vpcs.flatMap((v) =>
        v.appliances.map((a) => [a.name, { instanceId: id("i"), eni: id("eni") }]),
      ),
    ),
  };
}

for (const name of LAB_NAMES) {
  t.test(name, async (t) => {
    const plan = await labPlan(name);
    const tree = labFleet(plan, fakeIds(plan), OPTIONS);
    const loaded = await loadFleetText(stringify(tree), labTlsReader);
    t.same(formatLoadResult("fleet.yaml", loaded), [], "the fleet loader: no error, no warning");
    if (!loaded.ok) return;
    const { fleet } = loaded;
    t.equal(fleet.tag.value, plan.lab, "tagged with the lab's name");
    t.same(
      fleet.pairs.map((p) => [p.name, p.preferred]),
      plan.vpcs.map((v) => [`${v.name}-pair`, v.pair.preferred]),
      "one pair per VPC, preferred as planned",
    );
    t.same(
      fleet.connections.map((c) => connectionPairs(c)),
      plan.connections.map((c) => c.between.map((v) => `${v}-pair`)),
      "connections between the VPCs' pairs",
    );
    const farBlocks = plan.connections.length * 2;
    t.equal(managedRoutes(fleet).length, farBlocks, "one managed route per connection side");
    for (const a of fleet.appliances) {
      t.same(a.agent, {
        kind: "https",
        url: `https://${a.address?.private}:${LAB_AGENT_PORT}`,
        tls: {
          ca: "/etc/swanpair/tls/ca.crt",
          cert: "/etc/swanpair/tls/client.crt",
          key: "/etc/swanpair/tls/client.key",
        },
      });
    }

    const rendered = renderAgentConfigs(fleet);
    t.ok(rendered.ok, "agents render takes it");
    if (!rendered.ok) return;
    t.equal(rendered.configs.length, plan.vpcs.length * 2, "a config per appliance");
    for (const { appliance, yaml, config } of rendered.configs) {
      const agent = await loadConfigText(yaml, labTlsReader, fakeSsm().fetch);
      t.same(formatLoadResult(`${appliance}.yaml`, agent), [], `${appliance}: the agent takes it`);
      t.equal(config.datapath, "libipsec", `${appliance}: userspace ESP`);
      t.equal(config.stateDir, OPTIONS.stateDir);
      t.equal(config.ssm?.endpoint, OPTIONS.ssmEndpoint);
      t.ok((config.paths ?? []).length > 0, `${appliance}: path probes from its path source`);
      t.same(config.api?.listen?.tls, {
        ca: "/etc/swanpair/tls/ca.crt",
        cert: "/etc/swanpair/tls/server.crt",
        key: "/etc/swanpair/tls/server.key",
      });
    }
  });
}
