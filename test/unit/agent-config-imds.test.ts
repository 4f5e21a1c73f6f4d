import t, { type Test } from "tap";
import { stringify } from "yaml";
import { type FileReader, loadConfigText } from "../../agent/src/config/load.ts";
import type { LoadResult } from "../../agent/src/config/types.ts";
import { ImdsClient } from "../../common/imds/client.ts";
import { type Discover, discoverInstance } from "../../common/imds/discover.ts";
import { Secret } from "../../common/secret.ts";
import { baseTree, GOOD_PSK } from "../fixtures/invalid-configs.ts";
import { fakeSsm } from "../helpers/fake-ssm.ts";
import { INSTANCE, startImdsServer } from "../helpers/imds-server.ts";
import { refusedWith } from "../helpers/refused.ts";

/**
 * The agent's loader fills appliance.localAddress, appliance.publicAddress and ssm.region from
 * IMDS when, and only when, the config leaves them out; discovered values meet verify's checks.
 */

const psk: FileReader = async () => ({
  exists: true,
  mode: 0o100600,
  content: new Secret(`${GOOD_PSK}\n`),
});

/** The fixtures' valid config, with this appliance section, extra fields and key. */
function configText(
  appliance: Record<string, unknown>,
  extra: Record<string, unknown> = {},
  key: Record<string, unknown> = { file: "/etc/swanpair/psk/to-b1" },
) {
  const tree = baseTree();
  tree.appliance = { name: "a1", ...appliance };
  tree.tunnels[0].psk = key;
  return stringify({ ...tree, ...extra });
}

function mustLoad(r: LoadResult) {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r.issues)}`);
  return r.config;
}

/** Discovery against a fresh IMDS server; the server is returned to count its requests. */
async function imdsFor(t: Test, instance: Parameters<typeof startImdsServer>[1] = {}) {
  const server = await startImdsServer(t, instance);
  const discover: Discover = () => discoverInstance(new ImdsClient({ endpoint: server.endpoint }));
  return { server, discover };
}

t.test("localAddress and publicAddress left out: the private IP and the Elastic IP", async (t) => {
  const { server, discover } = await imdsFor(t);
  const config = mustLoad(await loadConfigText(configText({}), psk, undefined, discover));
  t.same(config.appliance, {
    name: "a1",
    localAddress: INSTANCE.privateIp,
    publicAddress: INSTANCE.publicIp,
  });
  t.equal(config.tunnels[0]?.localId, INSTANCE.publicIp, "the EIP is the default IKE id");
  t.ok(server.tokensIssued() >= 1, "asked IMDS, with a token");
});

t.test("no Elastic IP: publicAddress stays unset and localId falls back", async (t) => {
  const { discover } = await imdsFor(t, { instance: { publicIp: undefined } });
  const config = mustLoad(await loadConfigText(configText({}), psk, undefined, discover));
  t.same(config.appliance, { name: "a1", localAddress: INSTANCE.privateIp });
  t.equal(config.tunnels[0]?.localId, INSTANCE.privateIp);
});

t.test("a written publicAddress wins over IMDS's", async (t) => {
  const { discover } = await imdsFor(t);
  const text = configText({ publicAddress: "192.0.2.7" });
  const config = mustLoad(await loadConfigText(text, psk, undefined, discover));
  t.same(config.appliance, {
    name: "a1",
    localAddress: INSTANCE.privateIp,
    publicAddress: "192.0.2.7",
  });
});

t.test("ssm.region left out: the instance's region", async (t) => {
  const { discover } = await imdsFor(t);
  const ssm = fakeSsm();
  const text = configText(
    { localAddress: "10.9.9.9" },
    { ssm: {} },
    { ssm: "/swanpair/psk/a1/b1" },
  );
  const config = mustLoad(await loadConfigText(text, psk, ssm.fetch, discover));
  t.same(
    ssm.asked.map((a) => a.region),
    [INSTANCE.region],
    "the keys were read in that region",
  );
  t.same(config.appliance, { name: "a1", localAddress: "10.9.9.9" }, "localAddress was written");
});

t.test("a config that writes every field never contacts IMDS", async (t) => {
  const { server, discover } = await imdsFor(t);
  let asked = 0;
  const counting: Discover = () => {
    asked++;
    return discover();
  };
  const full = configText(
    { localAddress: "10.0.0.5", publicAddress: "192.0.2.7" },
    { ssm: { region: "us-east-1" } },
  );
  mustLoad(await loadConfigText(full, psk, fakeSsm().fetch, counting));
  // A written localAddress without publicAddress means "no public address", not "ask".
  const noPublic = configText({ localAddress: "10.0.0.5" });
  t.same(mustLoad(await loadConfigText(noPublic, psk, undefined, counting)).appliance, {
    name: "a1",
    localAddress: "10.0.0.5",
  });
  t.equal(asked, 0, "discover was never called");
  t.same(server.requests, [], "the server saw no request");
});

t.test("a config refused by its shape never contacts IMDS", async (t) => {
  const { server, discover } = await imdsFor(t);
  const bad = configText({}, { datapath: "xfrm" });
  refusedWith(t, await loadConfigText(bad, psk, undefined, discover), {
    expectPath: "datapath",
    expectRule: "enum",
  });
  t.same(server.requests, []);
});

t.test("discovered values meet the same checks, under the same field paths", async (t) => {
  const { discover } = await imdsFor(t, {
    instance: { publicIp: baseTree().tunnels[0].remoteAddress },
  });
  // The tunnel's peer is the address IMDS gives as this instance's own Elastic IP.
  const issues = refusedWith(t, await loadConfigText(configText({}), psk, undefined, discover), {
    expectPath: "tunnels[0].remoteAddress",
    expectRule: "self-address",
  });
  t.match(issues?.[0]?.message, /is this appliance's own publicAddress/);
});

t.test("off EC2: a clear error naming the fields and the endpoint", async (t) => {
  const { server } = await imdsFor(t);
  const endpoint = server.endpoint;
  await server.close();
  const discover: Discover = () => discoverInstance(new ImdsClient({ endpoint }));
  const text = configText({}, { ssm: {} });
  await t.rejects(loadConfigText(text, psk, fakeSsm().fetch, discover), {
    code: "SWP_ERR_IMDS_UNAVAILABLE",
    message: `appliance.localAddress and ssm.region not in the config, so asked of IMDS: IMDS at ${endpoint} (PUT /latest/api/token): ECONNREFUSED: not on EC2?; off EC2, write them into the config`,
  });
});
