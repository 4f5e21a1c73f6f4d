import { EC2Client } from "@aws-sdk/client-ec2";
import { EXIT, ExitError } from "../../../common/cli.ts";
import { createLogger } from "../../../common/logger.ts";
import { followRouteTables } from "../lab/router/follow.ts";
import { interfaceWith, sh } from "../lab/router/linux.ts";
import { type ElasticIp, setUpGateway } from "../lab/router/nat.ts";
import type { Verb } from "./shared.ts";

/**
 * `swanpair lab router`: run inside a lab's VPC router container (`swanpair lab deploy` starts
 * it). It holds each subnet's gateway address, is the VPC's internet gateway (1:1 NAT for the
 * Elastic IPs) and follows the VPC's EC2 route tables.
 */

function elasticIp(text: string): ElasticIp {
  const [priv, pub] = text.split("=");
  if (!priv || !pub) throw new ExitError(EXIT.usage, `--eip ${text}: expected PRIVATE=PUBLIC`);
  return { private: priv, public: pub };
}

function ms(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0)
    throw new ExitError(EXIT.usage, `${text}: not a number of milliseconds`);
  return n;
}

export const labRouter: Verb = {
  path: "lab router",
  examples: [
    "swanpair lab router --vpc-id vpc-1 --region eu-west-1 --endpoint http://198.18.0.254:5000 --gateways 10.1.1.1,10.1.2.1 --internet-address 198.18.0.2 --eip 10.1.1.10=198.18.0.100",
  ],
  register: (parent) =>
    parent
      .command("router")
      .description(
        "inside a lab's VPC router container: follow the VPC's route tables and NAT its Elastic IPs",
      )
      .requiredOption("--vpc-id <id>", "the VPC whose route tables to follow")
      .requiredOption("--region <region>", "EC2 region")
      .requiredOption("--endpoint <url>", "EC2 endpoint (the lab's moto)")
      .requiredOption(
        "--gateways <list>",
        "each subnet's gateway address, comma-separated; the first is the container's own",
      )
      .requiredOption("--internet-address <ip>", "the router's address on the lab's internet")
      .option(
        "--eip <private=public...>",
        "an Elastic IP and its appliance's private address",
        (v, acc: ElasticIp[]) => [...acc, elasticIp(v)],
        [],
      )
      .option("--poll-ms <ms>", "how often to read the route tables", "200")
      .option("--delay-ms <ms>", "how long after EC2 changed a route it is applied", "0")
      .action(
        async (opts: {
          vpcId: string;
          region: string;
          endpoint: string;
          gateways: string;
          internetAddress: string;
          eip: ElasticIp[];
          pollMs: string;
          delayMs: string;
        }) => {
          const logger = createLogger({ name: "swanpair-lab-router" });
          const [own, ...others] = opts.gateways.split(",");
          if (own === undefined) throw new ExitError(EXIT.usage, "--gateways: empty");
          const vpc = await interfaceWith(own);
          const internet = await interfaceWith(opts.internetAddress);
          for (const g of others)
            await sh("ip", ["addr", "add", `${g}/${vpc.prefixlen}`, "dev", vpc.dev]);
          const dev = { vpc: vpc.dev, internet: internet.dev };
          await setUpGateway(dev, opts.eip);
          logger.info({ vpcId: opts.vpcId, dev, eips: opts.eip.length }, "router up");
          const stop = new AbortController();
          for (const s of ["SIGTERM", "SIGINT"] as const) process.once(s, () => stop.abort());
          await followRouteTables({
            ec2: new EC2Client({ region: opts.region, endpoint: opts.endpoint }),
            vpcId: opts.vpcId,
            dev,
            pollMs: ms(opts.pollMs),
            delayMs: ms(opts.delayMs),
            logger,
            signal: stop.signal,
          });
        },
      ),
};
