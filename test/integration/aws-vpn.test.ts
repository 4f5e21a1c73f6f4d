import t, { type Test } from "tap";
import { waitFor } from "../helpers/agent-lab.ts";
import {
  bothUp,
  type CgwLab,
  FAR_HOST,
  killCarrier,
  startCgwLab,
  TUNNELS,
} from "../helpers/cgw-lab.ts";
import { nsExec } from "../helpers/netns.ts";

/**
 * The agent as the customer gateway of an AWS VPN connection with static routing, against the
 * VGW simulator (test/helpers/cgw-lab.ts): both tunnels come up, traffic passes, and when
 * AWS's endpoint of the carrying tunnel dies the agent's ping of it falls and the traffic
 * moves to the other tunnel; the gap is reported.
 */

const lab: CgwLab = await startCgwLab({ prefix: "swp-awsv", net: 72, routing: "static" });
t.teardown(() => lab.stop());

const ip = (...args: string[]) => nsExec(lab.cgw, "ip", args);

t.test("both tunnels come up against the simulator, and traffic passes", async (t) => {
  const up = await bothUp(lab);
  t.ok(up[TUNNELS[0]]?.child && up[TUNNELS[1]]?.child, "both tunnels have their CHILD_SA");
  const [s1, s2] = await lab.sim.sas();
  t.ok(s1?.child && s2?.child, "AWS's side has both CHILD_SAs too");
  t.ok(await waitFor("a ping through", () => lab.ping(), 10_000), "lan host → far host");
  t.match(
    ip("route", "get", "8.8.8.8"),
    /dev swpvgw1/,
    "the appliance's own traffic is not captured by 0/0",
  );
  t.match(ip("route", "get", FAR_HOST), /dev ipsec0/, "the static prefix is");
});

/** One switch away from a black-holed carrier, checked and reported. */
async function switchAway(t: Test): Promise<1 | 2> {
  const k = await killCarrier(lab);
  t.comment(
    `tunnel ${k.dead} → tunnel ${3 - k.dead}: the longest time without a reply was ${k.gapMs.toFixed(0)} ms`,
  );
  t.ok(k.moved, `${TUNNELS[2 - k.dead]} carries now`);
  t.ok(k.flowing, "replies come back through the other tunnel");
  t.ok(k.gapMs < 3000, `the gap (${k.gapMs.toFixed(0)} ms) is under 3 s`);
  t.equal((await lab.tunnels())[k.carrier]?.state, "down", "the dead tunnel is down");
  return k.dead;
}

t.test("AWS's endpoint of the carrying tunnel dies: the traffic moves to the other", async (t) => {
  const dead = await switchAway(t);
  // The endpoint comes back, but the CHILD_SA that failed is not trusted until it is remade...
  await lab.sim.heal(dead);
  await new Promise((r) => setTimeout(r, 1000));
  t.equal(await lab.carrier(), TUNNELS[2 - dead], "no flap back");
  // ...unless the other tunnel fails too: then it is tried again.
  const second = await switchAway(t);
  t.equal(second, 3 - dead, "the traffic went back to the healed tunnel");
  await lab.sim.heal(second);
});

t.test("the log has it", async (t) => {
  t.match(await lab.agentLog(), /rekeying the wanted carrier/, "the switch was a rekey");
});
