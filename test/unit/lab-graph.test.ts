import t from "tap";
import { labGraph } from "../../control-plane/src/lab/topology/graph.ts";
import { LAB_NAMES, labPlan } from "../fixtures/labs.ts";
import { matchesGolden } from "../helpers/golden.ts";

/**
 * `swanpair lab graph`: golden files of every valid lab in both formats, and what each must
 * show whatever its layout: every node with its addresses, and each connection's mesh of four
 * tunnels of which one carries.
 */

for (const name of LAB_NAMES) {
  t.test(`${name}: Mermaid and DOT`, async (t) => {
    const plan = await labPlan(name);
    const mermaid = labGraph(plan, "mermaid");
    const dot = labGraph(plan, "dot");
    await matchesGolden(t, `lab/${name}.mmd`, mermaid);
    await matchesGolden(t, `lab/${name}.dot`, dot);

    t.match(mermaid, /^%% .*\nflowchart LR\n/, "a Mermaid flowchart");
    t.match(dot, /^\/\/ .*\ngraph lab \{\n[\s\S]*\}\n$/, "one DOT graph");
    for (const text of [mermaid, dot]) {
      for (const v of plan.vpcs) {
        t.ok(text.includes(`VPC ${v.name} ${v.cidr}`), `${v.name} is a cluster`);
        for (const s of v.subnets) t.ok(text.includes(`${s.name} ${s.cidr}`), `subnet ${s.name}`);
        t.ok(text.includes(v.router.internetAddress), `${v.router.name}'s internet address`);
        for (const a of v.appliances) {
          t.ok(text.includes(`${a.address}, path ${a.pathSource}`), `${a.name}'s addresses`);
          t.ok(text.includes(`EIP ${a.public}`), `${a.name}'s Elastic IP`);
        }
        for (const h of v.hosts) t.ok(text.includes(`${h.name}`) && text.includes(h.address));
      }
      t.ok(text.includes(plan.internet.cidr), "the internet");
      t.equal(
        text.includes(`controller`) && text.includes(plan.controller.internetAddress),
        plan.controller.mode === "central",
        "the controller container only when central",
      );
    }
    const tunnels = dot.split("\n").filter((l) => /^ {2}"node:.*" -- "node:.*" \[label=/.test(l));
    const meshes = tunnels.filter((l) => !l.includes("lhead"));
    t.equal(meshes.length, plan.connections.length * 4, "four tunnels per connection");
    t.equal(
      meshes.filter((l) => l.includes("penwidth=3")).length,
      plan.connections.length,
      "one of them carries",
    );
    t.equal(
      mermaid.split("\n").filter((l) => / ===\|/.test(l)).length,
      plan.connections.length,
      "Mermaid draws the same carriers",
    );
  });
}
