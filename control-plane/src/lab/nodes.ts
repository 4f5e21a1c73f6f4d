import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { labControllers } from "./controllers.ts";
import { docker, dockerOutput, inspectContainers, LAB_LABEL } from "./docker.ts";
import { LabError } from "./lab-error.ts";
import type { LabAppliance, LabHost, LabPlan, LabVpc } from "./plan.ts";

/**
 * The lab's networks and containers, one function per kind of node. Every container runs the
 * appliance image under tini, with only the capabilities its job needs (no --privileged).
 */

/** Fake credentials: moto accepts any, and real ones must never reach it. */
const AWS_ENV = ["AWS_ACCESS_KEY_ID=swanpair-lab", "AWS_SECRET_ACCESS_KEY=swanpair-lab"];

export async function createNetworks(plan: LabPlan): Promise<void> {
  const nets: Array<[string, string, string]> = [
    [plan.internet.network, plan.internet.cidr, plan.internet.hostAddress],
    ...plan.vpcs.map((v): [string, string, string] => [v.network, v.cidr, v.hostAddress]),
  ];
  for (const [name, cidr, gateway] of nets) {
    await docker([
      ...["network", "create", "--driver", "bridge", "--label", `${LAB_LABEL}=${plan.lab}`],
      ...["--subnet", cidr, "--gateway", gateway, name],
    ]);
  }
}

interface NodeSpec {
  plan: LabPlan;
  image: string;
  container: string;
  hostname: string;
  role: "router" | "appliance" | "host" | "controller";
  network: string;
  address: string;
  forwards: boolean;
  tun?: boolean;
  env?: string[];
  command: string[];
  /** Files to put in the container before it starts: container path to local path or text. */
  files?: Record<string, { from: string } | { text: string; mode?: number }>;
}

/** docker create, copy the files in, and start. */
async function runNode(
  s: NodeSpec,
  stage: string,
  connect: Array<[string, string]> = [],
): Promise<void> {
  const sysctls = [
    `net.ipv4.ip_forward=${s.forwards ? 1 : 0}`,
    "net.ipv4.conf.all.rp_filter=0",
    "net.ipv4.conf.default.rp_filter=0",
  ];
  await docker([
    ...["create", "--name", s.container, "--hostname", s.hostname],
    ...["--label", `${LAB_LABEL}=${s.plan.lab}`, "--label", `swanpair.role=${s.role}`],
    ...["--network", s.network, "--ip", s.address, "--stop-timeout", "2"],
    ...["--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW"],
    ...(s.tun ? ["--device", "/dev/net/tun"] : []),
    ...sysctls.flatMap((x) => ["--sysctl", x]),
    ...[...AWS_ENV, `AWS_REGION=${s.plan.region}`, ...(s.env ?? [])].flatMap((e) => ["-e", e]),
    s.image,
    ...s.command,
  ]);
  for (const [network, address] of connect) {
    await docker(["network", "connect", "--ip", address, network, s.container]);
  }
  if (s.files !== undefined) {
    const root = join(stage, s.hostname);
    for (const [path, f] of Object.entries(s.files)) {
      const local = join(root, path);
      await mkdir(dirname(local), { recursive: true, mode: 0o755 });
      if ("from" in f) await copyFile(f.from, local);
      else await writeFile(local, f.text, { mode: f.mode ?? 0o644 });
    }
    await docker(["cp", `${root}/.`, `${s.container}:/`]);
  }
  await docker(["start", s.container]);
}

/** A shell line: take the subnet's gateway as default route, then become `exec`. */
function withDefaultRoute(gateway: string, exec: string, extra = ""): string[] {
  return ["sh", "-c", `ip route replace default via ${gateway}${extra} && exec ${exec}`];
}

export async function startRouter(
  plan: LabPlan,
  vpc: LabVpc,
  image: string,
  vpcId: string,
  ec2Endpoint: string,
): Promise<void> {
  const [first, ...rest] = vpc.subnets;
  if (first === undefined) throw new Error(`${vpc.name} has no subnet`);
  await runNode(
    {
      plan,
      image,
      container: vpc.router.container,
      hostname: vpc.router.name,
      role: "router",
      network: vpc.network,
      address: first.gateway,
      forwards: true,
      command: [
        ...["swanpair", "lab", "router", "--vpc-id", vpcId, "--region", plan.region],
        ...["--endpoint", ec2Endpoint, "--internet-address", vpc.router.internetAddress],
        ...["--gateways", [first, ...rest].map((s) => s.gateway).join(",")],
        ...[
          "--poll-ms",
          String(plan.router.pollMs),
          "--delay-ms",
          String(plan.router.followDelayMs),
        ],
        ...vpc.appliances.flatMap((a) => ["--eip", `${a.address}=${a.public}`]),
      ],
    },
    "",
    [[plan.internet.network, vpc.router.internetAddress]],
  );
  await routerUp(vpc.router.container);
}

/**
 * Waits for the router's "router up" line: its NAT is in place from then on. An appliance
 * started earlier could send its first IKE packet through a router without NAT yet, and the
 * conntrack entry left without NAT then outlives charon's retransmissions: that tunnel stays
 * down from that side for minutes (seen in the failure matrix).
 */
async function routerUp(container: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { stdout, stderr } = await dockerOutput(["logs", container]);
    const log = `${stdout}${stderr}`;
    if (log.includes('"msg":"router up"')) return;
    const [state] = await inspectContainers([container]);
    const tail = () => log.trim().split("\n").slice(-10).join("\n");
    if (state?.running !== true)
      throw new LabError(`${container} exited (${state?.status ?? "missing"}):\n${tail()}`);
    if (Date.now() > deadline)
      throw new LabError(
        `${container} did not set up its NAT in ${timeoutMs / 1000} s:\n${tail()}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const AGENT_CONFIG = "/etc/swanpair/agent.yaml";
export const CONTROLLER_FLEET = "/etc/swanpair/fleet.yaml";
export const CONTROLLER_PORT = 9470;
export const TLS_DIR = "/etc/swanpair/tls";

/** Co-located mode: the appliance's controller, beside its agent, with the fleet file. */
export interface ColocatedController {
  fleetYaml: string;
  cert: string;
  key: string;
  ec2Upstream: string;
}

/** A controller reaches EC2 through its own gate, so a fault can throttle it alone. */
const gate = (upstream: string) => `(swanpair lab ec2-gate --upstream ${upstream} &)`;

export async function startAppliance(
  plan: LabPlan,
  vpc: LabVpc,
  a: LabAppliance,
  image: string,
  stage: string,
  files: { agentYaml: string; ca: string; cert: string; key: string },
  controller?: ColocatedController,
): Promise<void> {
  const prefixlen = vpc.cidr.split("/")[1];
  // The controller runs in the background of the shell that then becomes the agent: a killed
  // or paused container takes both, as a dead instance would.
  const colocated = controller
    ? ` && ${gate(controller.ec2Upstream)} && (swanpair controller run --config ${CONTROLLER_FLEET} --self ${a.name} --listen 0.0.0.0:${CONTROLLER_PORT} &)`
    : "";
  await runNode(
    {
      plan,
      image,
      container: a.container,
      hostname: a.name,
      role: "appliance",
      network: vpc.network,
      address: a.address,
      forwards: true,
      tun: true,
      command: withDefaultRoute(
        a.gateway,
        `swanpair-agent run --config ${AGENT_CONFIG}`,
        ` && ip addr add ${a.pathSource}/${prefixlen} dev eth0${colocated}`,
      ),
      files: {
        [AGENT_CONFIG]: { text: files.agentYaml, mode: 0o600 },
        [`${TLS_DIR}/ca.crt`]: { from: files.ca },
        [`${TLS_DIR}/server.crt`]: { from: files.cert },
        [`${TLS_DIR}/server.key`]: { from: files.key },
        ...(controller && {
          [CONTROLLER_FLEET]: { text: controller.fleetYaml, mode: 0o600 },
          [`${TLS_DIR}/client.crt`]: { from: controller.cert },
          [`${TLS_DIR}/client.key`]: { from: controller.key },
        }),
      },
    },
    stage,
  );
}

export async function startHost(
  plan: LabPlan,
  vpc: LabVpc,
  h: LabHost,
  image: string,
): Promise<void> {
  await runNode(
    {
      plan,
      image,
      container: h.container,
      hostname: h.name,
      role: "host",
      network: vpc.network,
      address: h.address,
      forwards: false,
      command: withDefaultRoute(h.gateway, "sleep infinity"),
    },
    "",
  );
}

export async function startCentralController(
  plan: LabPlan,
  image: string,
  stage: string,
  files: { fleetYaml: string; ca: string; cert: string; key: string; ec2Upstream: string },
): Promise<void> {
  const c = plan.controller;
  await runNode(
    {
      plan,
      image,
      container: c.node.container,
      hostname: c.node.name,
      role: "controller",
      network: plan.internet.network,
      address: c.internetAddress,
      forwards: false,
      command: [
        "sh",
        "-c",
        `${gate(files.ec2Upstream)} && exec swanpair controller run --config ${CONTROLLER_FLEET} --listen 0.0.0.0:${CONTROLLER_PORT}`,
      ],
      files: {
        [CONTROLLER_FLEET]: { text: files.fleetYaml, mode: 0o600 },
        [`${TLS_DIR}/ca.crt`]: { from: files.ca },
        [`${TLS_DIR}/client.crt`]: { from: files.cert },
        [`${TLS_DIR}/client.key`]: { from: files.key },
      },
    },
    stage,
    plan.vpcs.map((v) => [v.network, c.vpcAddresses[v.name] ?? ""]),
  );
}

/** Where the lab's controllers serve /v1/status: the central one, or one per appliance. */
export function controllerStatusUrls(plan: LabPlan): string[] {
  return labControllers(plan).map((c) => `http://${c.address}:${CONTROLLER_PORT}/v1/status`);
}
