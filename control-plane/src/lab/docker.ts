import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { LabError } from "./lab-error.ts";

/**
 * The lab's Docker: the docker CLI, run as a child. The lab outlives the command that made it
 * (deploy, then fail and heal in other commands), so it is plain named containers and
 * networks with a label, found again by name; see docs/decisions/0019-lab-runtime.md.
 */

const run = promisify(execFile);

export const LAB_LABEL = "swanpair.lab";

export class DockerError extends Error {}

export async function docker(args: string[]): Promise<string> {
  return (await dockerOutput(args)).stdout;
}

/** Both streams: `docker logs` gives a container's stderr on its own stderr. */
export async function dockerOutput(args: string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run("docker", args, { maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new DockerError(
      `docker ${args.slice(0, 2).join(" ")}: ${(e.stderr || e.message).trim()}`,
    );
  }
}

export async function dockerAnswers(): Promise<boolean> {
  return docker(["version", "--format", "{{.Server.Version}}"]).then(
    () => true,
    () => false,
  );
}

/** Names of the lab's containers (running or not) and networks. */
export async function labResources(
  lab: string,
): Promise<{ containers: string[]; networks: string[] }> {
  const filter = ["--filter", `label=${LAB_LABEL}=${lab}`];
  const [c, n] = await Promise.all([
    docker(["ps", "-a", ...filter, "--format", "{{.Names}}"]),
    docker(["network", "ls", ...filter, "--format", "{{.Name}}"]),
  ]);
  const lines = (s: string) =>
    s
      .split("\n")
      .filter((l) => l !== "")
      .sort();
  return { containers: lines(c), networks: lines(n) };
}

export async function removeLab(
  lab: string,
): Promise<{ containers: string[]; networks: string[] }> {
  const found = await labResources(lab);
  if (found.containers.length > 0) await docker(["rm", "-f", "-v", ...found.containers]);
  // Every network is tried, so that one Docker refuses leaves no other behind.
  const refused: unknown[] = [];
  for (const n of found.networks) await removeNetwork(n).catch((err: unknown) => refused.push(err));
  if (refused.length > 0) throw refused[0];
  return found;
}

/**
 * Docker sometimes keeps counting an endpoint on a network after every container on it is gone
 * (moby/moby#42119; seen here once in a few runs of the failure matrix, after `docker rm -f`
 * of the lab's containers): `network rm` then fails for as long as the daemon runs.
 */
async function removeNetwork(name: string): Promise<void> {
  try {
    await docker(["network", "rm", name]);
  } catch (err) {
    if (!/active endpoints/.test(String(err))) throw err;
    const attached = await docker(["network", "inspect", "--format", "{{len .Containers}}", name]);
    if (attached.trim() !== "0") throw err;
    throw new LabError(
      `network ${name}: Docker counts an endpoint on it though no container is attached (a Docker bug, moby/moby#42119); restarting the Docker daemon clears it`,
    );
  }
}

export interface ContainerState {
  name: string;
  status: string;
  paused: boolean;
  running: boolean;
  pid: number;
}

export async function inspectContainers(names: string[]): Promise<ContainerState[]> {
  if (names.length === 0) return [];
  const out = await docker(["inspect", "--format", "{{json .}}", ...names]);
  return out
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => {
      const c = JSON.parse(l) as {
        Name: string;
        State: { Status: string; Paused: boolean; Running: boolean; Pid: number };
      };
      return {
        name: c.Name.replace(/^\//, ""),
        status: c.State.Status,
        paused: c.State.Paused,
        running: c.State.Running,
        pid: c.State.Pid,
      };
    });
}
