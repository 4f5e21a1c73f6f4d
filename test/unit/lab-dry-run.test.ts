import t from "tap";
import { labDryRun } from "../../control-plane/src/lab/dry-run.ts";
import { LAB_NAMES, labPlan } from "../fixtures/labs.ts";
import { matchesGolden } from "../helpers/golden.ts";

/** `swanpair lab deploy --dry-run`: golden text per lab, and the lines that must (not) be there. */

for (const name of LAB_NAMES) {
  t.test(name, async (t) => {
    const plan = await labPlan(name);
    const text = labDryRun(plan);
    await matchesGolden(t, `lab/${name}.dry-run.txt`, text);
    const lines = text.split("\n");
    for (const v of plan.vpcs) {
      t.ok(
        lines.some((l) => l.startsWith(`  ${v.network} `)),
        `network ${v.network}`,
      );
      for (const n of [v.router, ...v.appliances, ...v.hosts]) {
        t.ok(
          lines.some((l) => l.startsWith(`  ${n.container} `)),
          `container ${n.container}`,
        );
      }
    }
    const controller = lines.some((l) => l.startsWith(`  ${plan.controller.node.container} `));
    t.equal(controller, plan.controller.mode === "central", "a controller container iff central");
    t.equal(
      lines.filter((l) => l.includes(`route table tagged swanpair:fleet=${plan.lab}`)).length,
      plan.vpcs.length,
      "one tagged route table per VPC",
    );
  });
}
