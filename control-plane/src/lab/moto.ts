import { spawn } from "node:child_process";
import { existsSync, openSync, readFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The lab's EC2 (and SSM, DynamoDB) API: moto server on the machine running the lab, bound to
 * the host's address on the lab's internet network, so appliances reach it through their VPC
 * router and internet gateway as they would reach AWS. It outlives `swanpair lab deploy`: its
 * pid is kept in the lab's state and `destroy` stops it.
 */

const BUNDLED = fileURLToPath(new URL("../../../.venv/bin/moto_server", import.meta.url));

export function motoServerPath(): string {
  const path = process.env.SWANPAIR_MOTO_SERVER ?? BUNDLED;
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run scripts/bootstrap.sh (it installs moto into .venv/)`);
  }
  return path;
}

async function freePort(address: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, address, resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startLabMoto(
  dir: string,
  address: string,
): Promise<{ pid: number; endpoint: string }> {
  const port = await freePort(address);
  const log = openSync(join(dir, "moto.log"), "a", 0o600);
  const child = spawn(motoServerPath(), ["-H", address, "-p", String(port)], {
    detached: true,
    stdio: ["ignore", log, log],
  });
  child.unref();
  const endpoint = `http://${address}:${port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const up = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(1000) }).then(
      async (r) => {
        await r.body?.cancel();
        return r.ok;
      },
      () => false,
    );
    if (up && child.pid !== undefined) return { pid: child.pid, endpoint };
    await new Promise((r) => setTimeout(r, 200));
  }
  stopLabMoto(child.pid);
  throw new Error(`moto server did not answer on ${endpoint} (log: ${join(dir, "moto.log")})`);
}

/** Stops the moto a lab started, if that pid is still a moto server (pids are reused). */
export function stopLabMoto(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("moto_server")) return;
    process.kill(pid, "SIGTERM");
  } catch {
    // already gone
  }
}
