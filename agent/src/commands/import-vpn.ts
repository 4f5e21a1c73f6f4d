import { mkdir } from "node:fs/promises";
import { stringify } from "yaml";
import { writeFileAtomic } from "../../../common/atomic-write.ts";
import { pskFilePath, toEntry } from "../../../common/aws-vpn/entry.ts";
import { describeVpnConnection, fromVpnConnection } from "../../../common/aws-vpn/from-ec2.ts";
import { fromXml, type ImportResult } from "../../../common/aws-vpn/from-xml.ts";
import { awsVpnEntrySchema } from "../../../common/aws-vpn/schema.ts";
import { parseCidr } from "../../../common/cidr.ts";
import { EXIT, ExitError, emit, printErr, printJson } from "../../../common/cli.ts";
import { count } from "../../../common/text.ts";
import {
  type ConfigIssue,
  capReport,
  readConfigFile,
  reportLines,
} from "../../../common/yaml-config.ts";
import type { Verb } from "./verb.ts";

interface Options {
  xml?: string;
  vpnConnectionId?: string;
  region?: string;
  endpoint?: string;
  pskDir: string;
  out?: string;
  remotePrefix: string[];
  advertise: string[];
  json?: boolean;
}

export const importVpn: Verb = {
  name: "import-vpn",
  examples: [
    "swanpair-agent import-vpn --xml vpn-0a1b2c3d4e5f60718.xml --psk-dir /etc/swanpair/psk",
    "swanpair-agent import-vpn --vpn-connection-id vpn-0a1b2c3d4e5f60718 --region eu-west-1 --psk-dir /etc/swanpair/psk --out /etc/swanpair/aws-vpn.yaml",
  ],
  configure: (command) =>
    command
      .description(
        "turn an AWS VPN connection's configuration into an aws-vpn tunnel entry (YAML) and one key file per tunnel, checked against AWS's rules",
      )
      .option("--xml <file>", "AWS's CustomerGatewayConfiguration document")
      .option("--vpn-connection-id <id>", "ask EC2 (DescribeVpnConnections) for this connection")
      .option("--region <region>", "with --vpn-connection-id: the connection's region")
      .option("--endpoint <url>", "with --vpn-connection-id: EC2 endpoint override")
      .requiredOption("--psk-dir <dir>", "directory for the key files (created 0700; files 0600)")
      .option("--out <file>", "write the YAML here (atomically, mode 0600) instead of stdout")
      .option(
        "--remote-prefix <cidr>",
        "a network behind AWS (e.g. the VPC's CIDR), repeatable: static routing routes these over the tunnels",
        collect,
        [],
      )
      .option(
        "--advertise <cidr>",
        "a network of this side (e.g. this VPC's CIDR), repeatable: BGP announces these to AWS",
        collect,
        [],
      )
      .action(async (opts: Options) => {
        const source = checkUsage(opts);
        const result = await load(opts);
        if (!result.ok) refuse(source, result.issues, opts.json);
        const { connection } = result;
        const pskFiles: [string, string] = [
          pskFilePath(opts.pskDir, connection.vpnConnectionId, 1),
          pskFilePath(opts.pskDir, connection.vpnConnectionId, 2),
        ];
        // The VPN connection names neither the networks behind AWS nor what to announce.
        const entry = {
          ...toEntry(connection, pskFiles),
          ...(opts.remotePrefix.length > 0 && { remotePrefixes: opts.remotePrefix }),
          ...(opts.advertise.length > 0 && { advertise: opts.advertise }),
        };
        // The importer's own output must pass the schema it writes for; if not, it is a bug.
        const checked = awsVpnEntrySchema.safeParse(entry);
        if (!checked.success)
          throw new Error(`import-vpn built an invalid entry: ${checked.error.message}`);

        // Keys first, so that the YAML never names a file that is not there.
        await mkdir(opts.pskDir, { recursive: true, mode: 0o700 });
        for (const [i, t] of connection.tunnels.entries())
          await writeFileAtomic(pskFiles[i] as string, `${t.psk.reveal()}\n`, 0o600);
        const yaml = `# swanpair-agent import-vpn from ${source}: one entry for the agent config's tunnels list\n${stringify([entry])}`;
        if (opts.out) {
          await writeFileAtomic(opts.out, yaml, 0o600);
          emit(
            opts.json,
            { wrote: opts.out, pskFiles },
            () => `wrote ${opts.out}, and the keys to ${pskFiles.join(" and ")}`,
          );
        } else {
          emit(opts.json, { entry, pskFiles }, () => yaml);
          if (!opts.json) printErr(`wrote the keys to ${pskFiles.join(" and ")}`);
        }
      }),
};

const collect = (value: string, list: string[]) => [...list, value];

/** Which source, by name for messages; bad combinations are usage errors (exit 2). */
function checkUsage(opts: Options): string {
  const usage = (message: string) => new ExitError(EXIT.usage, message);
  if ((opts.xml === undefined) === (opts.vpnConnectionId === undefined))
    throw usage("give exactly one of --xml FILE and --vpn-connection-id ID");
  if (opts.xml !== undefined && (opts.region !== undefined || opts.endpoint !== undefined))
    throw usage("--region and --endpoint go with --vpn-connection-id, not --xml");
  if (opts.endpoint !== undefined && !URL.canParse(opts.endpoint))
    throw usage(`--endpoint ${JSON.stringify(opts.endpoint)} is not a URL`);
  if (opts.vpnConnectionId !== undefined && !/^vpn-[0-9a-f]{8,17}$/.test(opts.vpnConnectionId))
    throw usage(
      `--vpn-connection-id ${JSON.stringify(opts.vpnConnectionId)} is not a VPN connection id such as vpn-0123456789abcdef0`,
    );
  for (const [flag, list] of [
    ["--remote-prefix", opts.remotePrefix],
    ["--advertise", opts.advertise],
  ] as const) {
    for (const prefix of list) {
      const parsed = parseCidr(prefix);
      if (!parsed.ok) throw usage(`${flag} ${JSON.stringify(prefix)}: ${parsed.reason}`);
    }
  }
  return opts.xml ?? `${opts.vpnConnectionId} (DescribeVpnConnections)`;
}

async function load(opts: Options): Promise<ImportResult> {
  if (opts.xml !== undefined) {
    const read = await readConfigFile(opts.xml);
    return read.ok ? fromXml(read.text) : { ok: false, issues: read.issues };
  }
  const vpn = await describeVpnConnection({
    vpnConnectionId: opts.vpnConnectionId as string,
    region: opts.region,
    endpoint: opts.endpoint,
  });
  return fromVpnConnection(vpn);
}

/** Every problem, one line each (or JSON), then exit 2; nothing has been written. */
function refuse(source: string, issues: ConfigIssue[], json?: boolean): never {
  const code = "SWP_ERR_VPN_CONFIG_INVALID";
  const message = `${source} is not a usable AWS VPN configuration: ${count(issues.length, "error")}`;
  const report = capReport({ file: source, ok: false, errors: issues, warnings: [] });
  if (json) {
    const { errors, omitted } = report;
    printJson({
      error: { code, message, file: source, issues: errors, ...(omitted && { omitted }) },
    });
  } else {
    for (const line of reportLines(report)) printErr(line);
    printErr(`swanpair-agent: ${message} (${code})`);
  }
  throw new ExitError(EXIT.usage);
}
