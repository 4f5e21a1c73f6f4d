import t from "tap";
import { runFault } from "../../control-plane/src/lab/fault-run.ts";
import { nodeOf } from "../../control-plane/src/lab/faults.ts";
import {
  deployTestLab,
  failoversSince,
  labCase,
  partnerOf,
  recoveredCleanly,
  reportRun,
  routeTargets,
} from "../helpers/lab.ts";

/**
 * The failure matrix, co-located mode (docs/failover.md, "Co-located mode"): a controller
 * beside each appliance's agent (test/fixtures/labs/colocated-matrix.yml). The partner's
 * controller claims the routes of a dead active appliance; cutting the link between the two
 * members moves nothing, since the far pair still sees both.
 */

// The file takes 52 to 56 s (two cases of 15 to 19 s after a deploy of about 16 s); on a cold
// machine the deploy first builds the lab's image (45 s from nothing, docs/lab.md): 98 s
// measured, near tap's 120 s.
t.setTimeout(240_000);

const lab = await deployTestLab(t, "colocated-matrix.yml");
const A = lab.pairOf.a ?? "";

await labCase(t, lab, "10. co-located: the active appliance killed", async (t, c) => {
  const active = c.routes.a ?? "";
  const partner = partnerOf(lab, active);
  const r = await runFault(lab.state, {
    node: active,
    mode: "kill",
    progress: c.progress,
    timeoutMs: 20_000,
  });
  reportRun(t, r);
  t.match(
    r.moments.failovers,
    [{ pair: A, from: active, to: partner, reason: "active-dead" }],
    `one failover, to ${partner}`,
  );
  const logged = await failoversSince(lab, r.fault.at);
  t.same(
    logged.map((f) => f.container),
    [nodeOf(lab.plan, partner).container],
    `exactly one failover, decided by ${partner}'s own controller`,
  );
  t.same(await routeTargets(lab), { a: partner, b: c.routes.b }, `${partner} claimed the routes`);
  recoveredCleanly(t, r);
});

await labCase(t, lab, "5, co-located: the link between the members cut", async (t, c) => {
  const active = c.routes.a ?? "";
  const partner = partnerOf(lab, active);
  const r = await runFault(lab.state, {
    node: active,
    mode: "partition",
    progress: c.progress,
    settleMs: 5000,
    timeoutMs: 20_000,
  });
  reportRun(t, r);
  t.match(r.fault.detail, `between ${active} and ${partner}`, "the default peer: the partner");
  t.ok(r.moments.failovers.length <= 1, `one route change at most (${r.moments.failovers.length})`);
  recoveredCleanly(t, r);
});
