import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { EC2Client } from "@aws-sdk/client-ec2";
import { stringify } from "yaml";
import type { AgentStatus } from "../../../common/agent-api/status.ts";
import { writeFileAtomic } from "../../../common/atomic-write.ts";
import { renderAgentConfigs } from "../agents-config/render.ts";
import { loadFleetFile } from "../fleet/load.ts";
import type { Fleet } from "../fleet/types.ts";
import { ensureKeys } from "../keys/store.ts";
import { keyPrefix, tunnelKeys } from "../keys/tunnel-keys.ts";
import { type AgentAnswer, askAgents } from "../tunnels/ask-agents.ts";
import { tunnelsTrouble, tunnelsView } from "../tunnels/view.ts";
import { destroyLab } from "./destroy.ts";
import { dockerAnswers, dockerOutput, inspectContainers, labResources } from "./docker.ts";
import { GATE_LISTEN } from "./ec2-gate.ts";
import { seedLabEc2 } from "./ec2-seed.ts";
import { labFleet } from "./fleet-file.ts";
import { ensureLabImage } from "./images.ts";
import { LabError } from "./lab-error.ts";
import { startLabMoto, stopLabMoto } from "./moto.ts";
import {
  controllerStatusUrls,
  createNetworks,
  startAppliance,
  startCentralController,
  startHost,
  startRouter,
  TLS_DIR,
} from "./nodes.ts";
import { makeLabPki } from "./pki.ts";
import type { LabPlan } from "./plan.ts";
import { type LabState, makeLabDir, writeLabState } from "./state.ts";
import { waitUntil } from "./wait.ts";

/**
 * `swanpair lab deploy`: from a plan to a running lab, in the order the parts need each other:
 * image, networks, moto, EC2 resources, keys and certificates, routers (appliances reach SSM
 * through them), appliances, hosts, the controller; then it waits for every tunnel and the
 * controller's first answer.
 */

export type Progress = (line: string) => void;

const STATE_DIR = "/var/lib/swanpair";
const GATE_URL = `http://${GATE_LISTEN.host}:${GATE_LISTEN.port}`;

export async function deployLab(plan: LabPlan, progress: Progress): Promise<LabState> {
  if (!(await dockerAnswers()))
    throw new LabError("no Docker daemon answers (is dockerd running?)");
  const existing = await labResources(plan.lab);
  if (existing.containers.length + existing.networks.length > 0) {
    throw new LabError(
      `lab ${plan.lab} exists (${existing.containers.length} containers, ${existing.networks.length} networks); remove it first: swanpair lab destroy --lab ${plan.lab}`,
    );
  }
  // From here on the lab is being made: a failure removes what was made (its directory, with
  // moto's log, stays) so that the next deploy does not find a half lab in its way.
  try {
    return await makeLab(plan, progress);
  } catch (err) {
    await destroyLab(plan.lab, false).catch(() => undefined);
    throw err;
  }
}

async function makeLab(plan: LabPlan, progress: Progress): Promise<LabState> {
  const dir = await makeLabDir(plan.lab);
  const image = await ensureLabImage({ progress });
  progress(`image ${image}`);

  await createNetworks(plan);
  progress(`networks: ${[plan.internet.network, ...plan.vpcs.map((v) => v.network)].join(", ")}`);
  const moto = await startLabMoto(dir, plan.internet.hostAddress);
  progress(`EC2 API (moto) at ${moto.endpoint}`);
  // destroyLab finds moto through lab.json; until that is written, a failure stops it here.
  const { state, fleet, rendered, pki, inContainers } = await prepareLab(
    plan,
    dir,
    image,
    moto,
    progress,
  ).catch((err: unknown) => {
    stopLabMoto(moto.pid);
    throw err;
  });

  const stage = join(dir, "stage");
  await mkdir(stage, { recursive: true, mode: 0o700 });
  for (const vpc of plan.vpcs) {
    await startRouter(plan, vpc, image, state.ids.vpcs[vpc.name]?.id ?? "", moto.endpoint);
  }
  progress(`routers: ${plan.vpcs.map((v) => v.router.container).join(", ")}`);
  for (const vpc of plan.vpcs) {
    for (const a of vpc.appliances) {
      const yaml = rendered.find((c) => c.appliance === a.name)?.yaml ?? "";
      const server = pki.servers[a.name];
      if (server === undefined) throw new Error(`no certificate for ${a.name}`);
      const colocated =
        plan.controller.mode === "colocated"
          ? { fleetYaml: stringify(inContainers), ...pki.controller, ec2Upstream: moto.endpoint }
          : undefined;
      await startAppliance(
        plan,
        vpc,
        a,
        image,
        stage,
        { agentYaml: yaml, ca: pki.ca, ...server },
        colocated,
      );
    }
    for (const h of vpc.hosts) await startHost(plan, vpc, h, image);
  }
  progress(`appliances and hosts started`);
  await waitUntil(
    "every tunnel up",
    120_000,
    async () => {
      const answers = await askAgents(fleet, fleet.appliances, (api) => api.status(), 3000);
      await failFast(plan, answers);
      const trouble = tunnelsTrouble(tunnelsView(answers));
      return trouble.length === 0 ? true : { not: trouble.slice(0, 3).join("; ") };
    },
    progress,
  );
  // The central controller starts on a steady data plane: its first decision then finds both
  // members of each pair healthy and gives the routes to the preferred one, as a fleet's
  // first claim should, rather than to whichever member's tunnels happened to be up first.
  if (plan.controller.mode === "central") {
    await startCentralController(plan, image, stage, {
      fleetYaml: stringify(inContainers),
      ca: pki.ca,
      ...pki.controller,
      ec2Upstream: moto.endpoint,
    });
    progress(`controller: ${plan.controller.node.container}`);
  }
  const urls = controllerStatusUrls(plan);
  await waitUntil(
    urls.length === 1 ? "the controller answers" : `the ${urls.length} controllers answer`,
    60_000,
    async () => {
      const answers = await Promise.all(
        urls.map(async (url) => {
          const r = await fetch(url, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
          await r?.body?.cancel();
          return r?.ok === true ? undefined : `${url}: ${r ? `HTTP ${r.status}` : "no answer"}`;
        }),
      );
      const missing = answers.filter((a) => a !== undefined);
      return missing.length === 0 ? true : { not: missing.join("; ") };
    },
    progress,
  );
  progress(`lab ${plan.lab} is up`);
  return state;
}

/**
 * EC2 seeded, the PKI, the fleet file, keys in SSM and the agents' configs, then lab.json:
 * everything before the first container.
 */
async function prepareLab(
  plan: LabPlan,
  dir: string,
  image: string,
  moto: LabState["moto"],
  progress: Progress,
) {
  const ec2 = labEc2(plan.region, moto.endpoint);
  const ids = await seedLabEc2(ec2, plan).finally(() => ec2.destroy());
  progress(
    `EC2 holds ${plan.vpcs.length} VPCs, their route tables and ${Object.keys(ids.appliances).length} appliance instances`,
  );

  const pki = await makeLabPki(join(dir, "pki"), plan);
  const fleetOptions = {
    ec2Endpoint: moto.endpoint,
    ssmEndpoint: moto.endpoint,
    stateDir: STATE_DIR,
  };
  const inContainers = labFleet(plan, ids, {
    ...fleetOptions,
    ec2Endpoint: GATE_URL,
    tlsDir: TLS_DIR,
  });
  const onHost = {
    ...labFleet(plan, ids, { ...fleetOptions, tlsDir: TLS_DIR }),
    tls: { ca: pki.ca, cert: pki.operator.cert, key: pki.operator.key },
  };
  const fleetFile = join(dir, "fleet.yaml");
  await writeFileAtomic(fleetFile, stringify(onHost), 0o600);
  const fleet = await loadLabFleet(fleetFile);

  const prefix = keyPrefix(fleet);
  if (!prefix.ok) throw new LabError(prefix.problem);
  await withLabCredentials(() => ensureKeys(fleet, tunnelKeys(fleet, prefix.prefix)));
  const rendered = renderAgentConfigs(fleet);
  if (!rendered.ok)
    throw new LabError(
      `agent configs: ${rendered.issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
    );
  progress(`keys in SSM under ${prefix.prefix}; ${rendered.configs.length} agent configs rendered`);

  const state: LabState = {
    plan,
    ids,
    image,
    moto,
    fleetFile,
    partitions: [],
    throttled: [],
    createdAt: new Date().toISOString(),
  };
  await writeLabState(state);
  return { state, fleet, rendered: rendered.configs, pki, inContainers };
}

/**
 * Waiting out the timeout helps no one when an appliance's container has exited (its agent's
 * preflight names what is missing) or its charon keeps crashing (with charon's reason).
 */
async function failFast(plan: LabPlan, answers: AgentAnswer<AgentStatus>[]): Promise<void> {
  const appliances = plan.vpcs.flatMap((v) => v.appliances);
  const states = await inspectContainers(appliances.map((a) => a.container));
  const exited = states.find((c) => !c.running);
  if (exited !== undefined) {
    const { stdout, stderr } = await dockerOutput(["logs", "--tail", "15", exited.name]).catch(
      () => ({
        stdout: "",
        stderr: "",
      }),
    );
    throw new LabError(
      `${exited.name} exited (${exited.status}); its last lines:\n${`${stdout}${stderr}`.trim()}`,
    );
  }
  for (const a of answers) {
    if (!a.ok || a.value.charon.state !== "crash-loop") continue;
    const reason = a.value.charon.lastExit?.reason ?? "no reason given";
    throw new LabError(`charon keeps exiting on ${a.appliance}: ${reason}`);
  }
}

/** moto takes any credentials; these keep real ones away from it. */
export const LAB_CREDENTIALS = { accessKeyId: "swanpair-lab", secretAccessKey: "swanpair-lab" };

/** An EC2 client for a lab's moto, with the lab's credentials. */
export function labEc2(region: string, endpoint: string): EC2Client {
  return new EC2Client({ region, endpoint, credentials: LAB_CREDENTIALS });
}

/** SSM and the agent API clients read credentials from the environment. */
export async function withLabCredentials<T>(fn: () => Promise<T>): Promise<T> {
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  process.env.AWS_ACCESS_KEY_ID = LAB_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = LAB_CREDENTIALS.secretAccessKey;
  try {
    return await fn();
  } finally {
    restore("AWS_ACCESS_KEY_ID", saved.id);
    restore("AWS_SECRET_ACCESS_KEY", saved.secret);
  }
}

function restore(name: string, value: string | undefined) {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

export async function loadLabFleet(file: string): Promise<Fleet> {
  const loaded = await loadFleetFile(file);
  if (!loaded.ok) throw new LabError(`${file}: ${loaded.issues.map((i) => i.message).join("; ")}`);
  return loaded.fleet;
}
