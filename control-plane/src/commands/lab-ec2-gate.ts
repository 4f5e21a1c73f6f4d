import { createLogger } from "../../../common/logger.ts";
import { GATE_LISTEN, startEc2Gate, THROTTLE_FLAG } from "../lab/ec2-gate.ts";
import type { Verb } from "./shared.ts";

/** `swanpair lab ec2-gate`: inside a lab controller's container, the EC2 proxy that can throttle. */

export const labEc2Gate: Verb = {
  path: "lab ec2-gate",
  examples: ["swanpair lab ec2-gate --upstream http://198.18.0.254:5000"],
  register: (parent) =>
    parent
      .command("ec2-gate")
      .description(
        `inside a lab container: proxy EC2 calls to --upstream on ${GATE_LISTEN.host}:${GATE_LISTEN.port}; while ${THROTTLE_FLAG} exists, answer all but --rate calls a second with RequestLimitExceeded`,
      )
      .requiredOption("--upstream <url>", "the lab's EC2 API (moto)")
      .option("--rate <n>", "calls a second per EC2 action let through while throttled", "2")
      .action(async (opts: { upstream: string; rate: string }) => {
        const logger = createLogger({ name: "swanpair-lab-ec2-gate" });
        let refused = 0;
        await startEc2Gate({
          upstream: new URL(opts.upstream),
          ratePerSecond: Number(opts.rate),
          onThrottle: () => {
            refused++;
            if (refused === 1 || refused % 50 === 0) logger.info({ refused }, "throttled");
          },
        });
        logger.info({ upstream: opts.upstream, listen: GATE_LISTEN }, "ec2 gate up");
        await new Promise(() => undefined);
      }),
};
