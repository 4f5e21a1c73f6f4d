import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { stringify } from "yaml";
import { twoPairFleet } from "../fixtures/fleets.ts";
import { baseTree, GOOD_PSK } from "../fixtures/invalid-configs.ts";
import { AGENT_BIN, waitFor } from "../helpers/agent-lab.ts";
import { writeFleetFile } from "../helpers/fleet-file.ts";
import { deadEndpoint, INSTANCE, startImdsServer } from "../helpers/imds-server.ts";
import { childEnv, SWANPAIR_BIN, spawnCli, startController } from "../helpers/swanpair-bin.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * Both programs as an operator runs them, pointed at the IMDS test server through
 * SWANPAIR_IMDS_ENDPOINT: the agent fills what its config leaves out, `controller run --self
 * auto` finds its appliance, and off EC2 both stop with SWP_ERR_IMDS_UNAVAILABLE.
 */

const dir = await tempDir(t, "swp-imds-");
const imds = await startImdsServer(t);
const env = (endpoint: string) => ({ ...childEnv(), SWANPAIR_IMDS_ENDPOINT: endpoint });

const pskPath = join(dir, "to-b1.psk");
await writeFile(pskPath, `${GOOD_PSK}\n`, { mode: 0o600 });
const agentConfig = join(dir, "agent.yaml");
const tree = baseTree();
tree.appliance = { name: "a1" };
tree.tunnels[0].psk = { file: pskPath };
await writeFile(agentConfig, stringify(tree));

t.test("swanpair-agent render: a config without addresses gets them from IMDS", async (t) => {
  const before = imds.requests.length;
  const r = await spawnCli(AGENT_BIN, ["render", "--config", agentConfig], env(imds.endpoint));
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, `local_addrs = ${INSTANCE.privateIp}`, "charon binds the private IP");
  t.match(r.stdout, `id = ${INSTANCE.publicIp}`, "the Elastic IP is the IKE id");
  t.same(imds.requests[before], { method: "PUT", path: "/latest/api/token", status: 200 });
});

t.test("swanpair-agent validate off EC2: exit 1, SWP_ERR_IMDS_UNAVAILABLE as JSON", async (t) => {
  const endpoint = await deadEndpoint();
  const r = await spawnCli(
    AGENT_BIN,
    ["validate", "--config", agentConfig, "--json"],
    env(endpoint),
  );
  t.equal(r.code, 1);
  const { error } = JSON.parse(r.stdout);
  t.equal(error.code, "SWP_ERR_IMDS_UNAVAILABLE");
  t.equal(
    error.message,
    `appliance.localAddress not in the config, so asked of IMDS: IMDS at ${endpoint} (PUT /latest/api/token): ECONNREFUSED: not on EC2?; off EC2, write it into the config`,
  );
});

const fleetFile = await writeFleetFile(
  dir,
  // EC2 at a dead port: these tests end before the loop would need it.
  { ...twoPairFleet({ intervalMs: 500, fall: 3, rise: 2, holdDownMs: 5000, preempt: false }) },
  (tree) => {
    tree.endpoint = "http://127.0.0.1:9";
    tree.appliances[3].instanceId = INSTANCE.instanceId;
  },
);

t.test("controller run --self auto: runs co-located as the appliance IMDS names", async (t) => {
  const ctl = await startController(t, ["--config", fleetFile, "--self", "auto"], {
    SWANPAIR_IMDS_ENDPOINT: imds.endpoint,
  });
  t.match(
    ctl.log.find((l) => l.msg === "--self auto: found in IMDS"),
    { self: "b2", instanceId: INSTANCE.instanceId, availabilityZone: INSTANCE.availabilityZone },
  );
  const started = await waitFor("controller started", async () =>
    ctl.log.find((l) => l.msg === "controller started"),
  );
  t.match(started, { mode: "co-located", self: "b2" });
  t.equal(await ctl.stop(), 0);
});

t.test("controller run --self auto: no appliance matches, or no IMDS", async (t) => {
  const other = await startImdsServer(t, { instance: { instanceId: "i-0fedcba987654321f" } });
  const args = ["controller", "run", "--config", fleetFile, "--self", "auto", "--json"];
  const none = await spawnCli(SWANPAIR_BIN, args, env(other.endpoint));
  t.equal(none.code, 2);
  t.same(JSON.parse(none.stdout).error, {
    code: "SWP_ERR_USAGE",
    message: `--self auto: no appliance in the fleet has the instance id of this instance (i-0fedcba987654321f, ${INSTANCE.privateIp} in ${INSTANCE.availabilityZone})`,
  });

  const endpoint = await deadEndpoint();
  const off = await spawnCli(SWANPAIR_BIN, args, env(endpoint));
  t.equal(off.code, 1);
  t.match(JSON.parse(off.stdout).error, {
    code: "SWP_ERR_IMDS_UNAVAILABLE",
    message: `--self auto asks IMDS which instance this is: IMDS at ${endpoint}`,
  });
});
