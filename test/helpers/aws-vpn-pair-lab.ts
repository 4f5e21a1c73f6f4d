import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DescribeRouteTablesCommand, type EC2Client } from "@aws-sdk/client-ec2";
import { pskFilePath } from "../../common/aws-vpn/entry.ts";
import type { AwsVpnConnection, AwsVpnTunnel } from "../../common/aws-vpn/model.ts";
import { Secret } from "../../common/secret.ts";
import { renderAgentConfigs } from "../../control-plane/src/agents-config/render.ts";
import type { Fleet } from "../../control-plane/src/fleet/types.ts";
import { AGENT_BIN } from "./agent-lab.ts";
import { seedFleet } from "./moto.ts";
import { createNetns, deleteNetns, nsExec, stopChild } from "./netns.ts";
import { startVgwPair, type VgwPair } from "./vgw-pair.ts";

/**
 * A pair of swanpair appliances in front of an AWS managed VPN, each the customer gateway of
 * its own VPN connection, against the two-connection VGW simulator (vgw-pair.ts), with EC2 in
 * moto and a VPC router that follows moto's route table:
 *
 *   host 10.68.3.10 ── vpc (router: 10.99/16 → the member EC2's route names)
 *                        ├── a1 10.68.1.10 (+.11) ══ VPN connection 1 ══ sim 1 ─┐
 *                        └── a2 10.68.2.10 (+.11) ══ VPN connection 2 ══ sim 2 ─┴─ vgw ── far 10.99.0.10
 *
 * Each member has its Elastic IP (198.18.68.1, 198.18.69.1) on its uplink and NATs its private
 * address to it, as EC2's internet gateway does; its path source (.11) is routed through the
 * VPC. The agents run from configs rendered from the fleet (`renderAgentConfigs`), with the
 * VPN connections as the simulator runs them.
 */

export const VPC_CIDR = "10.68.0.0/16";
export const FAR = { cidr: "10.99.0.0/16", host: "10.99.0.10" };
export const HOST = "10.68.3.10";
export const CONNECTION = "to-aws";
export const MEMBERS = ["a1", "a2"] as const;
export type Member = (typeof MEMBERS)[number];

const NS = { a1: "swp-avp-a1", a2: "swp-avp-a2", vpc: "swp-avp-vpc", host: "swp-avp-host" };
const SUBNET = { a1: 1, a2: 2 } as const;
const PUBLIC_NET = { a1: 68, a2: 69 } as const;
const privateOf = (m: Member) => `10.68.${SUBNET[m]}.10`;
const pathSourceOf = (m: Member) => `10.68.${SUBNET[m]}.11`;
const publicOf = (m: Member) => `198.18.${PUBLIC_NET[m]}.1`;
const UPLINK = "swpvgw1";
const VPC_DEV = "vpc0";
/** The table a member's path source looks up: the VPC's default route, never its own tunnels. */
const PATH_TABLE = "100";

/** Static routing, or BGP with this hold time (AWS's ASN 64512, the customer's 65000). */
export type PairRouting = { routing: "static" } | { routing: "bgp"; holdTimeS: number };

function vpnConnection(m: Member, id: string, r: PairRouting): AwsVpnConnection {
  const net = PUBLIC_NET[m];
  const tunnel = (n: 1 | 2): AwsVpnTunnel => {
    const phase = (lifetimeS: number) => ({
      encryption: ["AES256" as const],
      integrity: ["SHA2-256" as const],
      dhGroups: [14],
      lifetimeS,
    });
    const inside = (host: number) => `169.254.${net}.${(n - 1) * 4 + host}`;
    return {
      outside: { customerGateway: publicOf(m), vpnGateway: `198.18.${net}.1${n}` },
      inside: { cidr: `${inside(0)}/30`, customerGateway: inside(2), vpnGateway: inside(1) },
      psk: new Secret(`Pair.${m}.tunnel${n}_key_0123456789`),
      ikeVersions: ["ikev2"],
      phase1: phase(28800),
      phase2: phase(3600),
      dpd: { delayS: 10, timeoutS: 30 },
      ...(r.routing === "bgp" && {
        bgp: { customerGatewayAsn: 65000, vpnGatewayAsn: 64512, holdTimeS: r.holdTimeS },
      }),
    };
  };
  return {
    vpnConnectionId: id,
    routing: r.routing,
    tunnels: [tunnel(1), tunnel(2)],
    ...(r.routing === "static" && { staticRoutes: [VPC_CIDR] }),
  };
}

export interface AwsVpnPairLab {
  fleet: Fleet;
  vgw: VgwPair;
  /** Starts the member's agent (once its namespace is up); resolves at once. */
  startAgent(m: Member): void;
  /** The member dies as an instance does: its agent and charon killed, its links down. */
  kill(m: Member): Promise<void>;
  /** The member EC2's route to the far network names now, as the VPC router last set it. */
  routedTo(): Member | null;
  /** Every change of the VPC router's route, oldest first. */
  routeMoves(): Array<{ at: number; to: Member | null }>;
  socket(m: Member): string;
  agentLog(m: Member): Promise<string>;
  /** The host's namespace and the far host's, for traffic. */
  ns: { host: string; far: string };
  stop(): Promise<void>;
}

/**
 * Builds it all and starts no agent: the caller starts them, in the order it wants AWS to
 * choose the connections. `ec2` is a moto client; `endpoint` its URL.
 */
export async function startAwsVpnPairLab(
  ec2: EC2Client,
  endpoint: string,
  routing: PairRouting,
): Promise<AwsVpnPairLab> {
  const dir = await mkdtemp("/tmp/swp-avp-");
  const agents = new Map<Member, ChildProcess>();
  const routeMoves: Array<{ at: number; to: Member | null }> = [];
  let routed: Member | null = null;
  let vgw: VgwPair | undefined;
  let fleet: Fleet | undefined;
  let follower: NodeJS.Timeout | undefined;
  let stopped = false;
  const ip = (ns: string, ...args: string[]) => nsExec(ns, "ip", args);
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    clearTimeout(follower);
    for (const child of agents.values()) await stopChild(child);
    await vgw?.stop();
    for (const ns of Object.values(NS)) deleteNetns(ns);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const seeded = await seedFleet(ec2, {
      tag: { key: "swanpair:fleet", value: "avp" },
      vpcs: [{ name: "va", cidrs: [VPC_CIDR] }],
      connections: [],
    });
    const [va] = seeded.vpcs;
    if (!va) throw new Error("moto seeded no VPC");
    const enis = { a1: va.appliances[0].eni, a2: va.appliances[1].eni };
    const vpns = {
      a1: vpnConnection("a1", "vpn-0a1a1a1a1", routing),
      a2: vpnConnection("a2", "vpn-0a2a2a2a2", routing),
    };
    fleet = {
      region: seeded.region,
      endpoint,
      tag: seeded.tag,
      vpcs: [{ name: "va", id: va.id, cidrs: [VPC_CIDR], routeTables: va.routeTables }],
      appliances: MEMBERS.map((m, i) => ({
        name: m,
        vpc: "va",
        instanceId: va.appliances[i]?.instanceId ?? "",
        eni: enis[m],
        agent: { kind: "unix", path: join(dir, m, "agent.sock") },
        address: { private: privateOf(m), public: publicOf(m), pathSource: pathSourceOf(m) },
      })),
      pairs: [{ name: "pair-a", vpc: "va", members: ["a1", "a2"], preferred: "a1" }],
      connections: [
        {
          name: CONNECTION,
          kind: "aws-vpn",
          pair: "pair-a",
          remoteCidrs: [FAR.cidr],
          vpnConnections: { a1: vpns.a1.vpnConnectionId, a2: vpns.a2.vpnConnectionId },
          pathTarget: FAR.host,
        },
      ],
      failover: { intervalMs: 200, fall: 2, rise: 2, holdDownMs: 1000, preempt: false },
      agents: {
        datapath: "libipsec",
        stateDir: join(dir, "{appliance}", "state"),
        charon: { mode: "child" },
        api: { socket: "/run/swanpair/agent.sock" },
        crypto: { preset: "modern" },
        awsVpn: { pskDir: join(dir, "{appliance}", "keys") },
        probe: { intervalMs: 200, fall: 2 },
      },
    };
    const rendered = renderAgentConfigs(fleet, {
      vpns: new Map(MEMBERS.map((m) => [vpns[m].vpnConnectionId, vpns[m]])),
    });
    if (!rendered.ok) throw new Error(`render: ${JSON.stringify(rendered.issues)}`);

    for (const ns of Object.values(NS)) createNetns(ns);
    nsExec(NS.vpc, "sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
    ip(NS.vpc, "link", "add", "host0", "type", "veth", "peer", "name", "eth0", "netns", NS.host);
    ip(NS.vpc, "address", "add", "10.68.3.1/24", "dev", "host0");
    ip(NS.vpc, "link", "set", "host0", "up");
    ip(NS.host, "address", "add", `${HOST}/24`, "dev", "eth0");
    ip(NS.host, "link", "set", "eth0", "up");
    ip(NS.host, "route", "add", "default", "via", "10.68.3.1");
    for (const m of MEMBERS) {
      const ns = NS[m];
      const gw = `10.68.${SUBNET[m]}.1`;
      ip(NS.vpc, "link", "add", `to-${m}`, "type", "veth", "peer", "name", VPC_DEV, "netns", ns);
      ip(NS.vpc, "address", "add", `${gw}/24`, "dev", `to-${m}`);
      ip(NS.vpc, "link", "set", `to-${m}`, "up");
      ip(ns, "address", "add", `${privateOf(m)}/24`, "dev", VPC_DEV);
      ip(ns, "address", "add", `${pathSourceOf(m)}/24`, "dev", VPC_DEV);
      ip(ns, "link", "set", VPC_DEV, "up");
      ip(ns, "link", "set", "lo", "up");
      ip(ns, "route", "add", VPC_CIDR, "via", gw);
      ip(ns, "route", "add", "default", "via", gw, "table", PATH_TABLE);
      ip(ns, "rule", "add", "pref", "50", "from", pathSourceOf(m), "lookup", PATH_TABLE);
      for (const key of ["net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=2"])
        nsExec(ns, "sysctl", ["-qw", key]);
    }
    vgw = await startVgwPair({
      prefix: "swp-avpg",
      connections: [vpns.a1, vpns.a2],
      uplinks: MEMBERS.map((m) => ({ peerNs: NS[m], peerAddress: `${publicOf(m)}/24` })) as [
        { peerNs: string; peerAddress: string },
        { peerNs: string; peerAddress: string },
      ],
      far: FAR,
      customerPrefixes: [VPC_CIDR],
    });
    for (const m of MEMBERS) {
      const ns = NS[m];
      // The internet, as on EC2; and the internet gateway's 1:1 NAT of the Elastic IP.
      ip(ns, "route", "add", "default", "via", `198.18.${PUBLIC_NET[m]}.254`, "dev", UPLINK);
      const nat = (...rule: string[]) =>
        nsExec(ns, "iptables", ["-w", "5", "-t", "nat", "-A", ...rule]);
      nat(
        "POSTROUTING",
        "-o",
        UPLINK,
        "-s",
        privateOf(m),
        "-j",
        "SNAT",
        "--to-source",
        publicOf(m),
      );
      nat(
        "PREROUTING",
        "-i",
        UPLINK,
        "-d",
        publicOf(m),
        "-j",
        "DNAT",
        "--to-destination",
        privateOf(m),
      );
      await mkdir(join(dir, m, "keys"), { recursive: true });
      for (const [k, tunnel] of vpns[m].tunnels.entries()) {
        const file = pskFilePath(join(dir, m, "keys"), vpns[m].vpnConnectionId, (k + 1) as 1 | 2);
        await writeFile(file, tunnel.psk.reveal(), { mode: 0o600 });
      }
      const config = rendered.configs.find((c) => c.appliance === m);
      await writeFile(join(dir, m, "agent.yaml"), config?.yaml ?? "");
    }
    const eniToMember = new Map(MEMBERS.map((m) => [enis[m], m]));
    const follow = async () => {
      const out = await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: va.routeTables }));
      const route = (out.RouteTables ?? [])
        .flatMap((t) => t.Routes ?? [])
        .find((r) => r.DestinationCidrBlock === FAR.cidr);
      const to = eniToMember.get(route?.NetworkInterfaceId ?? "") ?? null;
      if (to === routed) return;
      if (to) ip(NS.vpc, "route", "replace", FAR.cidr, "via", privateOf(to));
      else ip(NS.vpc, "route", "replace", "blackhole", FAR.cidr);
      routed = to;
      routeMoves.push({ at: Date.now(), to });
    };
    const schedule = () => {
      follower = setTimeout(() => {
        follow()
          .catch(() => undefined)
          .finally(() => {
            if (!stopped) schedule();
          });
      }, 100);
      follower.unref();
    };
    schedule();
  } catch (err) {
    await stop();
    throw err;
  }
  const env = {
    ...process.env,
    PATH: `${join(process.execPath, "..")}:${process.env.PATH ?? ""}`,
  };
  return {
    fleet: fleet as Fleet,
    vgw: vgw as VgwPair,
    startAgent(m) {
      const log = createWriteStream(join(dir, m, "agent.log"), { flags: "a" });
      const child = spawn(
        "ip",
        ["netns", "exec", NS[m], AGENT_BIN, "run", "--config", join(dir, m, "agent.yaml")],
        { stdio: ["ignore", "pipe", "pipe"], env },
      );
      child.stdout?.pipe(log);
      child.stderr?.pipe(log);
      agents.set(m, child);
    },
    async kill(m) {
      // Every process of the namespace (the agent, charon, ping), then the links: a dead
      // instance answers nothing, not even ARP.
      const pids = execFileSync("ip", ["netns", "pids", NS[m]], { encoding: "utf8" });
      for (const pid of pids.split("\n").filter(Boolean)) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // gone already
        }
      }
      await stopChild(agents.get(m), "SIGKILL");
      for (const dev of [VPC_DEV, UPLINK]) ip(NS[m], "link", "set", dev, "down");
    },
    routedTo: () => routed,
    routeMoves: () => [...routeMoves],
    socket: (m) => join(dir, m, "agent.sock"),
    agentLog: (m) => readFile(join(dir, m, "agent.log"), "utf8").catch(() => ""),
    ns: { host: NS.host, far: (vgw as VgwPair).farHost.ns },
    stop,
  };
}
