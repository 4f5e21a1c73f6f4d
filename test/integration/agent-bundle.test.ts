import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { stringify } from "yaml";
import { ApiClient } from "../../common/agent-api/client.ts";
import { buildAgent } from "../../scripts/build.ts";
import {
  INVALID_CONFIGS,
  type InvalidConfig,
  materializeFixture,
} from "../fixtures/invalid-configs.ts";
import { AGENT_BIN, AgentLab, waitFor } from "../helpers/agent-lab.ts";
import { spawnCli } from "../helpers/swanpair-bin.ts";

/**
 * The build that appliances run: built here, then two agents from it bring up a tunnel, so
 * what ships is what was tested.
 */
const run = promisify(execFile);

/** Fields of the wrong type, as zod finds them. */
const WRONG_TYPES: InvalidConfig = {
  name: "fields of the wrong type",
  yaml: "appliance: { name: 7, localAddress: [] }\ntunnels: {}\nstateDir: false\n",
  expectPath: "appliance.name",
  expectRule: "type",
};
const out = await mkdtemp("/tmp/swp-bundle-");
const bin = await buildAgent(join(out, "agent"));
const lab = await AgentLab.create("swp-bun", { bin });
t.teardown(async () => {
  await lab.cleanup();
  await rm(out, { recursive: true, force: true });
});

t.test("the bundle runs as an executable with its own shebang", async (t) => {
  const { stdout } = await run(bin, ["--help"]);
  t.match(stdout, /Usage: swanpair-agent/);
});

t.test("two bundled agents bring a tunnel up", async (t) => {
  const one = [{ name: "one", subnet: 0 }];
  await lab.writeConfig("a", one);
  await lab.writeConfig("b", one);
  lab.startAgent("a");
  lab.startAgent("b");
  await waitFor("tunnel up", async () => (await lab.tunnelState("a", "one")) === "up");
  t.ok(lab.ping("a", 0), "ping through the tunnel");
  const { stdout } = await run(bin, ["status", "--socket", lab.socket("a"), "--json"]);
  t.equal(JSON.parse(stdout).tunnels[0].state, "up");
  // prom-client's index in the bundle has stand-ins for what it never uses (scripts/build.ts).
  const metrics = await new ApiClient({ socketPath: lab.socket("a") }).metrics();
  t.match(metrics, /^swanpair_process_resident_memory_bytes \d+$/m, "the process's metrics");
  t.match(metrics, /^swanpair_nodejs_heap_size_used_bytes \d+$/m, "the heap's");
  t.match(metrics, /^swanpair_tunnel_up\{tunnel="one"\} 1$/m, "the agent's own");
});

t.test("the bundle refuses every invalid config in the words of the sources", async (t) => {
  // The bundle's zod runs jitless with its English messages only, and its built-ins load as
  // the sources' do not (scripts/build.ts): what an operator reads must not change with that.
  const configs = [...INVALID_CONFIGS, WRONG_TYPES];
  for (const [i, fixture] of configs.entries()) {
    const dir = join(out, `invalid-${i}`);
    await mkdir(dir);
    const path = await materializeFixture(fixture, dir);
    const validate = (b: string) => spawnCli(b, ["validate", "--config", path]);
    const [bundled, source] = await Promise.all([validate(bin), validate(AGENT_BIN)]);
    t.equal(bundled.code, 2, `${fixture.name}: exit 2`);
    t.match(bundled.stderr, `${fixture.expectPath}: `, `${fixture.name}: the field`);
    t.match(bundled.stderr, `[${fixture.expectRule}]`, `${fixture.name}: the rule`);
    t.same(bundled, source, `${fixture.name}: ${bundled.stderr.split("\n")[0]}`);
  }
});

t.test("the on-demand chunks load from the build: the EC2 and SSM clients", async (t) => {
  // Each SDK client is a chunk of its own (decision 0008): an answer from the client itself,
  // a closed port, proves its chunk loaded and kept its named exports.
  const env = {
    ...process.env,
    AWS_ACCESS_KEY_ID: "AKIDBUNDLETEST",
    AWS_SECRET_ACCESS_KEY: "bundle-test",
    AWS_MAX_ATTEMPTS: "1",
  };
  const fail = (e: { code: number; stdout: string }) => e;
  const xml = new URL("../fixtures/aws-vpn/vpn-bgp.xml", import.meta.url).pathname;
  const fromXml = await run(bin, ["import-vpn", "--xml", xml, "--psk-dir", join(out, "psk")]);
  t.match(fromXml.stdout, /type: aws-vpn/, "import-vpn --xml: the entry on stdout");
  const fromEc2 = await run(
    bin,
    [
      ...["import-vpn", "--vpn-connection-id", "vpn-0123456789abcdef0", "--json"],
      ...["--region", "eu-west-1", "--endpoint", "http://127.0.0.1:9", "--psk-dir", out],
    ],
    { env },
  ).then(() => ({ code: 0, stdout: "{}" }), fail);
  t.equal(fromEc2.code, 1, "import-vpn --vpn-connection-id, EC2 unreachable: exit 1");
  t.match(JSON.parse(fromEc2.stdout), { error: { code: "SWP_ERR_EC2_CALL" } });

  const config = join(out, "ssm.yaml");
  await writeFile(
    config,
    stringify({
      appliance: { name: "a", localAddress: "10.0.0.1" },
      stateDir: out,
      api: { socket: join(out, "ssm.sock") },
      ssm: { region: "eu-west-1", endpoint: "http://127.0.0.1:9" },
      tunnels: [
        {
          name: "t",
          type: "peer",
          remoteAddress: "192.0.2.1",
          psk: { ssm: "/swanpair/t" },
          localSubnets: ["10.1.0.0/16"],
          remoteSubnets: ["10.2.0.0/16"],
        },
      ],
    }),
  );
  const validated = await run(bin, ["validate", "--config", config, "--json"], { env }).then(
    () => ({ code: 0, stdout: "{}" }),
    fail,
  );
  t.equal(validated.code, 2, "keys in SSM, SSM unreachable: refused");
  t.match(
    JSON.parse(validated.stdout).errors,
    [{ path: "tunnels[0].psk.ssm", message: /SSM at http:\/\/127\.0\.0\.1:9 cannot be reached/ }],
    "the SSM client's own answer",
  );
});
