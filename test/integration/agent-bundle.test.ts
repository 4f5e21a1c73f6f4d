import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { buildAgent } from "../../scripts/build.ts";
import { AgentLab, waitFor } from "../helpers/agent-lab.ts";

/**
 * The single-file build that appliances run: built here, then two agents from it bring up a
 * tunnel, so what ships is what was tested.
 */
const run = promisify(execFile);
const out = await mkdtemp("/tmp/swp-bundle-");
const bin = await buildAgent(join(out, "swanpair-agent.mjs"));
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
});
