/**
 * aws-vpn benchmark (npm run bench:aws-vpn): how long traffic stops when AWS's endpoint of the
 * carrying tunnel dies, static and BGP, against the VGW simulator (test/helpers/cgw-lab.ts).
 * Each run black-holes the carrying tunnel's endpoint under a 20 per second echo stream from
 * a host behind the appliance to a host behind the simulator, waits for the other tunnel to
 * carry, then heals; the next run kills the tunnel that carries then. Writes
 * bench/results/aws-vpn.json. Numbers, not pass/fail: the tests check behaviour.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { resolve } from "node:path";
import { bothUp, killCarrier, startCgwLab } from "../test/helpers/cgw-lab.ts";

const OUT = resolve(import.meta.dirname, "results/aws-vpn.json");
const RUNS = Number(process.env.SWANPAIR_BENCH_RUNS ?? 8);

interface Series {
  routing: "static" | "bgp";
  runs: number;
  gapsMs: number[];
  medianMs: number;
  maxMs: number;
}

const median = (xs: number[]) => {
  const s = xs.toSorted((a, b) => a - b);
  return s.length % 2
    ? (s[(s.length - 1) / 2] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

async function series(routing: "static" | "bgp", net: number): Promise<Series> {
  const lab = await startCgwLab({ prefix: `swp-bav${routing[0]}`, net, routing, holdTimeS: 9 });
  try {
    await bothUp(lab, 60_000);
    const gapsMs: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const k = await killCarrier(lab, 1500);
      gapsMs.push(Math.round(k.gapMs));
      await lab.sim.heal(k.dead);
      // The healed tunnel's CHILD_SA stays marked until the other one fails: the next run
      // kills the carrier, so the marked one is tried again (aws.ts), as in production.
      await new Promise((r) => setTimeout(r, 1000));
      process.stderr.write(`${routing} run ${i + 1}: ${gapsMs.at(-1)} ms\n`);
    }
    return { routing, runs: RUNS, gapsMs, medianMs: median(gapsMs), maxMs: Math.max(...gapsMs) };
  } finally {
    await lab.stop();
  }
}

const results = {
  at: new Date().toISOString(),
  machine: { cpus: cpus().length, node: process.version },
  probe: { intervalMs: 200, fall: 3, rise: 2 },
  series: [await series("static", 78), await series("bgp", 79)],
};
await mkdir(resolve(import.meta.dirname, "results"), { recursive: true });
await writeFile(OUT, `${JSON.stringify(results, null, 2)}\n`);
for (const s of results.series)
  process.stdout.write(
    `${s.routing}: median ${s.medianMs} ms, max ${s.maxMs} ms over ${s.runs} switches\n`,
  );
