import { EXIT, ExitError, emit } from "../../../common/cli.ts";
import { table } from "../controller/format.ts";
import { readTraffic, startTraffic, stopTraffic } from "../lab/traffic-run.ts";
import { LAB_OPTION, labStateOrExit } from "./lab-shared.ts";
import type { Verb } from "./shared.ts";

/** `swanpair lab traffic start|read|stop`: the UDP sequence streams between the VPCs' hosts. */

const ACTIONS = ["start", "read", "stop"] as const;

export const labTraffic: Verb = {
  path: "lab traffic",
  examples: [
    "swanpair lab traffic start",
    "swanpair lab traffic read --json | jq '.[].outages'",
    "swanpair lab traffic stop",
  ],
  register: (parent) =>
    parent
      .command("traffic")
      .description(
        "start a UDP sequence stream both ways between the first host of each connection's VPCs, read what each direction lost and when (outages to the send period, 20 ms at 50 packets/s), or stop the streams",
      )
      .argument("<action>", ACTIONS.join(", "))
      .option(
        "--rate <pps>",
        "start: packets a second each way (default: the topology's traffic.ratePps)",
      )
      .option(...LAB_OPTION)
      .option("--json", "read: print each direction's analysis as JSON")
      .action(async (action: string, opts: { rate?: string; lab?: string; json?: boolean }) => {
        if (!(ACTIONS as readonly string[]).includes(action)) {
          throw new ExitError(EXIT.usage, `${action}: expected one of ${ACTIONS.join(", ")}`);
        }
        const { plan } = await labStateOrExit(opts.lab);
        if (action === "start") {
          const rate = opts.rate === undefined ? undefined : Number(opts.rate);
          if (rate !== undefined && !(Number.isInteger(rate) && rate >= 1 && rate <= 1000)) {
            throw new ExitError(
              EXIT.usage,
              `--rate ${opts.rate}: expected 1 to 1000 packets a second`,
            );
          }
          const pairs = await startTraffic(plan, rate);
          emit(opts.json, pairs, () =>
            pairs
              .map(
                (p) => `${p.connection}: ${p.ends[0].name} <-> ${p.ends[1].name} on UDP ${p.port}`,
              )
              .join("\n"),
          );
          return;
        }
        if (action === "stop") {
          await stopTraffic(plan);
          emit(
            opts.json,
            { stopped: true },
            () => "streams stopped; their records stay in the hosts",
          );
          return;
        }
        const report = await readTraffic(plan);
        emit(
          opts.json,
          report.map((d) => ({ connection: d.connection, from: d.from, to: d.to, ...d.analysis })),
          () =>
            table([
              ["CONNECTION", "FROM", "TO", "SENT", "RECEIVED", "LOST", "OUTAGES", "LONGEST GAP"],
              ...report.map((d) => [
                d.connection,
                d.from,
                d.to,
                String(d.analysis.sent),
                String(d.analysis.received),
                String(d.analysis.lost),
                String(d.analysis.outages.length),
                `${Math.round(d.analysis.longestGapMs)} ms`,
              ]),
            ]).join("\n"),
        );
      }),
};
