import t, { type Test } from "tap";
import { ImdsClient } from "../../common/imds/client.ts";
import { type Discover, discoverInstance } from "../../common/imds/discover.ts";
import { discoverSelf } from "../../control-plane/src/controller/self-from-imds.ts";
import type { Fleet } from "../../control-plane/src/fleet/types.ts";
import { twoPairFleet } from "../fixtures/fleets.ts";
import { INSTANCE, startImdsServer } from "../helpers/imds-server.ts";

/**
 * `swanpair controller run --self auto`: the appliance is the one whose instanceId is the one
 * IMDS gives, asked over IMDSv2 from a server that enforces it; a private IP alone never picks.
 */

const POLICY = { intervalMs: 500, fall: 3, rise: 2, holdDownMs: 5000, preempt: false };

/** The two-pair fleet, with `ids` replacing appliances' instance ids and addresses. */
function fleet(ids: Record<string, string> = {}, addresses: Record<string, string> = {}): Fleet {
  const base = twoPairFleet(POLICY);
  return {
    ...base,
    appliances: base.appliances.map((a) => ({
      ...a,
      instanceId: ids[a.name] ?? a.instanceId,
      ...(addresses[a.name] && { address: { private: addresses[a.name] as string } }),
    })),
  };
}

async function discoverer(t: Test) {
  const server = await startImdsServer(t);
  const discover: Discover = () => discoverInstance(new ImdsClient({ endpoint: server.endpoint }));
  return { server, discover };
}

t.test("picks the appliance whose instanceId is this instance's", async (t) => {
  const { server, discover } = await discoverer(t);
  const found = await discoverSelf(fleet({ b2: INSTANCE.instanceId }), discover);
  t.match(found, { ok: true, name: "b2", instance: { instanceId: INSTANCE.instanceId } });
  t.equal(server.requests[0]?.method, "PUT", "asked with a session token");
});

t.test("no appliance has this instance's id: a clear problem, with an IP hint", async (t) => {
  const { discover } = await discoverer(t);
  const none = await discoverSelf(fleet(), discover);
  t.same(none, {
    ok: false,
    problem: `--self auto: no appliance in the fleet has the instance id of this instance (${INSTANCE.instanceId}, ${INSTANCE.privateIp} in ${INSTANCE.availabilityZone})`,
  });
  // The same private IP in another VPC is no match: IPs repeat across VPCs, instance ids do not.
  const sameIp = await discoverSelf(fleet({}, { a2: INSTANCE.privateIp }), discover);
  t.equal(sameIp.ok, false, "a private IP alone does not pick an appliance");
  t.match(sameIp, {
    problem: /a2 \(i-a2\) has its private IP: is the fleet file's instanceId out of date\?$/,
  });
});

t.test("two appliances with this instance's id: refused, both named", async (t) => {
  const { discover } = await discoverer(t);
  const twice = await discoverSelf(
    fleet({ a1: INSTANCE.instanceId, b1: INSTANCE.instanceId }),
    discover,
  );
  t.match(twice, { ok: false, problem: /appliances a1, b1 all name this instance/ });
});

t.test("IMDS unreachable: SWP_ERR_IMDS_UNAVAILABLE, saying to name --self", async (t) => {
  const { server } = await discoverer(t);
  const endpoint = server.endpoint;
  await server.close();
  const discover: Discover = () => discoverInstance(new ImdsClient({ endpoint }));
  await t.rejects(discoverSelf(fleet(), discover), {
    code: "SWP_ERR_IMDS_UNAVAILABLE",
    message: new RegExp(
      `^--self auto asks IMDS which instance this is: IMDS at ${endpoint} .*ECONNREFUSED.*; off EC2, give --self the appliance's name$`,
    ),
  });
});
