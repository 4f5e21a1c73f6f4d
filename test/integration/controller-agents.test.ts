import { DescribeRouteTablesCommand, StopInstancesCommand } from "@aws-sdk/client-ec2";
import t from "tap";
import { Ec2 } from "../../control-plane/src/ec2/client.ts";
import type { Fleet } from "../../control-plane/src/fleet/types.ts";
import { AgentLab, waitFor } from "../helpers/agent-lab.ts";
import { writeFleetFile } from "../helpers/fleet-file.ts";
import { seededFleet, seedFleet, startMoto } from "../helpers/moto.ts";
import { ScriptedAgents } from "../helpers/scripted-agents.ts";
import { startController, swanpair } from "../helpers/swanpair-bin.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * The controller with real agents: a1 and b1 are `swanpair-agent run` in network namespaces
 * with a real IPsec tunnel between them (each named after the far appliance, as the
 * controller expects); their pair partners a2 and b2 answer on the real API with scripted
 * health. EC2 is moto. What the controller sees of a1 and b1 comes from charon, through the
 * agents' status.
 */

const lab = await AgentLab.create("swp-cag", { subnets: 1 });
t.teardown(() => lab.cleanup());
await lab.writeConfig("a", [{ name: "b1", subnet: 0 }]);
await lab.writeConfig("b", [{ name: "a1", subnet: 0 }]);
lab.startAgent("a");
lab.startAgent("b");

const moto = await startMoto(t);
const ec2 = new Ec2({ region: "eu-west-1", endpoint: moto.endpoint });
t.teardown(() => ec2.destroy());

const NAMES: Record<string, string> = {
  "east-a": "a1",
  "east-b": "a2",
  "west-a": "b1",
  "west-b": "b2",
};
const rename = (n: string) => NAMES[n] ?? n;

t.test(
  "real agents' tunnels drive the controller's view, and a dead far member fails over",
  async (t) => {
    // The lab's tunnel names differ per side, which writeConfig allows: a1 names it b1, b1 names it a1.
    await waitFor(
      "the tunnel up on both agents",
      async () =>
        (await lab.tunnelState("a", "b1")) === "up" && (await lab.tunnelState("b", "a1")) === "up",
      30_000,
    );
    const seeded = await seedFleet(ec2.sdk, {
      tag: { key: "swanpair:fleet", value: "cag" },
      vpcs: [
        { name: "east", cidrs: ["10.1.0.0/16"], tables: 2 },
        { name: "west", cidrs: ["10.2.0.0/16"] },
      ],
      connections: [["east", "west"]],
    });
    const seededView = seededFleet(seeded, moto.endpoint);
    const named: Fleet = {
      ...seededView,
      appliances: seededView.appliances.map((a) => ({ ...a, name: rename(a.name) })),
      pairs: seededView.pairs.map((p) => ({
        ...p,
        members: [rename(p.members[0]), rename(p.members[1])],
        preferred: rename(p.preferred),
      })),
      failover: { intervalMs: 250, fall: 2, rise: 2, holdDownMs: 5000, preempt: false },
    };
    const scripted = await ScriptedAgents.start(t, named);
    const real: Record<string, string> = { a1: lab.socket("a"), b1: lab.socket("b") };
    const fleet: Fleet = {
      ...scripted.wire(named),
      appliances: scripted
        .wire(named)
        .appliances.map((a) =>
          real[a.name]
            ? { ...a, agent: { kind: "unix" as const, path: real[a.name] as string } }
            : a,
        ),
    };
    const file = await writeFleetFile(await tempDir(t, "swp-cag-"), fleet);

    const status = await swanpair("status", "--config", file, "--json");
    t.equal(status.code, 0, status.stderr);
    const sides = JSON.parse(status.stdout).sides;
    t.match(sides[0].members[0], {
      name: "a1",
      agent: "reachable",
      tunnel: "up",
      status: "healthy",
    });
    t.match(sides[1].members[0], {
      name: "b1",
      agent: "reachable",
      tunnel: "up",
      status: "healthy",
    });

    const ctl = await startController(t, ["--config", file]);
    await waitFor("healthy in the controller's view", async () => {
      const s = await ctl.status();
      return (
        s.sides.length === 2 &&
        s.sides.every((v: { members: Array<{ status: string }> }) =>
          v.members.every((m) => m.status === "healthy"),
        )
      );
    });

    // b1's agent and its charon go away: a1's real tunnel to b1 goes down with it.
    await lab.stopAgent("b");
    const seen = await waitFor("a1 reports its tunnel to b1 down", async () => {
      const s = await ctl.status();
      const a1 = s.sides[0].members[0];
      return a1.tunnel === "down" ? s : undefined;
    });
    t.match(seen.sides[1].members[0], { name: "b1", agent: "unreachable" });
    t.equal(seen.sides[0].active, "a1", "east keeps its routes: a1 is only unready, not dead");

    // EC2 confirms b1 is gone: west fails over to b2.
    const westA = seeded.vpcs[1]?.appliances[0];
    const westB = seeded.vpcs[1]?.appliances[1];
    await ec2.sdk.send(new StopInstancesCommand({ InstanceIds: [westA?.instanceId ?? ""] }));
    await waitFor("west's routes on b2", async () => {
      const out = await ec2.sdk.send(
        new DescribeRouteTablesCommand({ RouteTableIds: seeded.vpcs[1]?.routeTables }),
      );
      const routes = (out.RouteTables ?? []).flatMap((tb) => tb.Routes ?? []);
      return (
        routes.find((r) => r.DestinationCidrBlock === "10.1.0.0/16")?.NetworkInterfaceId ===
        westB?.eni
      );
    });
    const after = await waitFor("status to show it", async () => {
      const s = await ctl.status();
      return s.sides[1].active === "b2" ? s : undefined;
    });
    t.match(after.sides[1].lastFailover, { from: "b1", to: "b2", reason: "active-dead", epoch: 1 });
    t.equal(after.sides[0].active, "a1", "east did not move");
  },
);
