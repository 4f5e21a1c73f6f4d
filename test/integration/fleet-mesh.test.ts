import type { ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t, { type Test } from "tap";
import { stringify } from "yaml";
import { AGENT_BIN, waitFor } from "../helpers/agent-lab.ts";
import { createMeshLab, type MeshNode } from "../helpers/mesh-lab.ts";
import { startMoto } from "../helpers/moto.ts";
import { nsSpawn, stopChild } from "../helpers/netns.ts";
import { bridgeIntoNetns } from "../helpers/ns-bridge.ts";
import { swanpair } from "../helpers/swanpair-bin.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * Issue 9's promise, end to end: from one fleet file, `psk ensure` puts a key per tunnel in
 * SSM (moto), `agents render` writes every appliance's config, real agents (real charon,
 * libipsec) in network namespaces behind 1:1 NAT bring up the whole mesh, and `swanpair
 * tunnels` sees every tunnel up.
 */

const moto = await startMoto(t);

interface Vpc {
  name: string;
  cidr: string;
  /** Appliance names; the first two form the VPC's pair. */
  members: [string, string];
}

function fleetTree(dir: string, vpcs: Vpc[], connections: Array<[string, string]>) {
  const nodes: Array<MeshNode & { vpc: string }> = vpcs.flatMap((v, i) =>
    v.members.map((name, j) => ({
      name,
      vpc: v.name,
      private: v.cidr.replace(/0\.0\/16$/, `0.${11 + j}`),
      public: `198.18.64.${10 * (i + 1) + j}`,
    })),
  );
  const tree = {
    region: "eu-west-1",
    tag: { key: "swanpair:fleet", value: "mesh" },
    vpcs: vpcs.map((v, i) => ({
      name: v.name,
      id: `vpc-${i + 1}`,
      cidrs: [v.cidr],
      routeTables: [`rtb-${i + 1}`],
    })),
    appliances: nodes.map((n, i) => ({
      name: n.name,
      vpc: n.vpc,
      instanceId: `i-${i + 1}`,
      eni: `eni-${i + 1}`,
      agent: `unix://${join(dir, n.name, "agent.sock")}`,
      address: { private: n.private, public: n.public },
    })),
    pairs: vpcs.map((v) => ({ name: `${v.name}-pair`, members: v.members })),
    connections: connections.map(([a, b]) => ({
      name: `${a}-${b}`,
      between: [`${a}-pair`, `${b}-pair`],
    })),
    agents: { datapath: "libipsec", stateDir: join(dir, "{appliance}") },
    keys: { ssm: { prefix: "/swanpair/mesh", endpoint: moto.endpoint } },
  };
  return { tree, nodes };
}

async function meshUp(t: Test, prefix: string, vpcs: Vpc[], connections: Array<[string, string]>) {
  const dir = await tempDir(t, "swp-mesh-");
  const { tree, nodes } = fleetTree(dir, vpcs, connections);
  const fleet = join(dir, "fleet.yaml");
  await writeFile(fleet, stringify(tree));

  const ensured = await swanpair("psk", "ensure", "--config", fleet, "--json");
  t.equal(ensured.code, 0, `psk ensure: ${ensured.stderr}`);
  const rendered = await swanpair(
    "agents",
    "render",
    "--config",
    fleet,
    "--out",
    join(dir, "configs"),
  );
  t.equal(rendered.code, 0, `agents render: ${rendered.stderr}`);

  const lab = createMeshLab(prefix, nodes);
  t.teardown(() => lab.cleanup());
  await bridgeIntoNetns(
    t,
    dir,
    Number(new URL(moto.endpoint).port),
    nodes.map((n) => lab.ns(n.name)),
  );
  const agents: ChildProcess[] = [];
  t.teardown(async () => {
    for (const a of agents) await stopChild(a);
  });
  for (const n of nodes) {
    await mkdir(join(dir, n.name), { recursive: true, mode: 0o700 });
    const log = createWriteStream(join(dir, `${n.name}.log`));
    const agent = nsSpawn(lab.ns(n.name), process.execPath, [
      AGENT_BIN,
      "run",
      "--config",
      join(dir, "configs", `${n.name}.yaml`),
    ]);
    agent.stdout?.pipe(log);
    agent.stderr?.pipe(log);
    agents.push(agent);
  }
  t.teardown(async () => {
    if (t.passing()) return;
    for (const n of nodes) {
      const text = await readFile(join(dir, `${n.name}.log`), "utf8").catch(() => "");
      t.comment(`${n.name} (tail):\n${text.split("\n").slice(-15).join("\n")}`);
    }
  });
  const tunnels = await waitFor(
    "every mesh tunnel up",
    async () => {
      const r = await swanpair("tunnels", "--config", fleet, "--json");
      return r.code === 0 ? JSON.parse(r.stdout) : undefined;
    },
    60_000,
    500,
  );
  return { tunnels, fleet, nodes };
}

interface TunnelsJson {
  appliances: Array<{
    name: string;
    reachable: boolean;
    tunnels: Array<{ name: string; state: string }>;
  }>;
}

t.test("two VPCs: the four mesh tunnels come up at both ends", async (t) => {
  const { tunnels } = await meshUp(
    t,
    "swp-mesh2",
    [
      { name: "a", cidr: "10.1.0.0/16", members: ["a1", "a2"] },
      { name: "b", cidr: "10.2.0.0/16", members: ["b1", "b2"] },
    ],
    [["a", "b"]],
  );
  const seen = (tunnels as TunnelsJson).appliances.map(
    (a) => `${a.name}: ${a.tunnels.map((x) => `${x.name}=${x.state}`).join(" ")}`,
  );
  t.same(seen, ["a1: b1=up b2=up", "a2: b1=up b2=up", "b1: a1=up a2=up", "b2: a1=up a2=up"]);
});

t.test("a hub pair in two connections: its members tunnel to both spokes' members", async (t) => {
  const { tunnels } = await meshUp(
    t,
    "swp-mesh3",
    [
      { name: "hub", cidr: "10.10.0.0/16", members: ["h1", "h2"] },
      { name: "a", cidr: "10.1.0.0/16", members: ["a1", "a2"] },
      { name: "b", cidr: "10.2.0.0/16", members: ["b1", "b2"] },
    ],
    [
      ["hub", "a"],
      ["hub", "b"],
    ],
  );
  const byAppliance = Object.fromEntries(
    (tunnels as TunnelsJson).appliances.map((a) => [a.name, a.tunnels.map((x) => x.name).sort()]),
  );
  t.same(byAppliance, {
    h1: ["a1", "a2", "b1", "b2"],
    h2: ["a1", "a2", "b1", "b2"],
    a1: ["h1", "h2"],
    a2: ["h1", "h2"],
    b1: ["h1", "h2"],
    b2: ["h1", "h2"],
  });
  const states = (tunnels as TunnelsJson).appliances.flatMap((a) => a.tunnels.map((x) => x.state));
  t.equal(states.length, 16);
  t.ok(
    states.every((s) => s === "up"),
    "all 16 up",
  );
});
