import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import t from "tap";
import { spawnCli } from "../helpers/swanpair-bin.ts";

/**
 * The README's main command as a user runs it: the failover lab deploys, traffic flows both
 * ways, the appliance VPC a's routes point at is killed, the routes move to its partner once,
 * traffic comes back with nothing lost afterwards, and the lab is gone at the end.
 */

const ROOT = resolve(import.meta.dirname, "../..");

t.test("the demo kills the active appliance and traffic comes back", async (t) => {
  const result = await spawnCli("/bin/bash", [`${ROOT}/scripts/demo.sh`, "--json"], process.env);
  t.equal(result.code, 0, result.stderr.split("\n").slice(-20).join("\n"));
  const demo = JSON.parse(result.stdout);
  t.equal(demo.killed, "a1", "a1 held VPC a's routes: it is the pair's preferred member");
  t.same(
    demo.failovers.map(
      (f: { pair: string; from: string; to: string }) => `${f.pair}: ${f.from} -> ${f.to}`,
    ),
    ["a-pair: a1 -> a2"],
    "exactly one route change",
  );
  const names = demo.timeline.events.map((e: { name: string }) => e.name);
  for (const moment of [
    "fault",
    "detection",
    "decision",
    "route change",
    "VPC router follows",
    "first packet through",
  ]) {
    t.ok(names.includes(moment), `the timeline has ${moment}`);
  }
  const aToB = demo.directions.find((d: { from: string }) => d.from === "ha");
  t.ok(
    aToB.gapMs > 0 && aToB.gapMs < 5000,
    `traffic from VPC a stopped, then came back (${aToB.gapMs} ms)`,
  );
  for (const d of demo.directions)
    t.equal(d.lostAfterRecovery, 0, `${d.from} -> ${d.to}: nothing lost after recovery`);
  const svg = await readFile(resolve(ROOT, demo.svg), "utf8");
  t.match(svg, /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.match(svg, /first packet through/);
  const left = await spawnCli(
    "docker",
    ["ps", "-aq", "--filter", "label=swanpair.lab=demo"],
    process.env,
  );
  t.equal(left.stdout.trim(), "", "no container of the lab is left");
});
