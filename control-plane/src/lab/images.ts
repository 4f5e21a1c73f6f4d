import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { relative, resolve } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { SwpError } from "../../../common/errors.ts";

/**
 * The lab's one image (appliances, VPC routers, controller, workload hosts), built on this
 * machine without a registry (docs/lab.md, decision 0018): node:24-bookworm-slim (a real one,
 * or images/node-base/build.sh's stand-in), both programs' bundles (scripts/build.ts) and
 * Dockerfile.agent. Tagged swanpair/appliance:<hash of the Dockerfile, the bundles, the
 * package list and the base image's id>, so nothing is rebuilt when nothing changed.
 */

const ROOT = resolve(import.meta.dirname, "../../..");
export const BASE_IMAGE = "node:24-bookworm-slim";
export const LAB_IMAGE_REPO = "swanpair/appliance";
const DOCKERFILE = resolve(ROOT, "Dockerfile.agent");
/** What `scripts/build.ts` makes and the image copies: both bundles and the package list. */
const BUILT = ["dist/agent", "dist/swanpair.mjs", "dist/deb-packages.txt"];
const TAIL_LINES = 40;

const exec = promisify(execFile);

export interface LabImageOptions {
  /** One line per step: the base image, the build's steps, or that both are up to date. */
  progress?: (line: string) => void;
}

/** Builds whatever is missing and returns the image's name, e.g. swanpair/appliance:3f2a…. */
export async function ensureLabImage(options: LabImageOptions = {}): Promise<string> {
  const progress = options.progress ?? (() => {});
  await docker("version", "--format", "{{.Server.Version}}").catch((err: unknown) => {
    throw failed(
      `no Docker daemon answers (${errorText(err)}); start one (bash scripts/dockerd.sh start)`,
    );
  });
  // mmdebstrap and docker import are shell work, done as images/fresh-debian/ does them.
  await run("bash", [resolve(ROOT, "images/node-base/build.sh")], (line) => {
    if (line.startsWith("node-base: ")) progress(line.slice("node-base: ".length));
  });
  // In a child process, so that esbuild never enters the controller's own bundle.
  await run(process.execPath, [resolve(ROOT, "scripts/build.ts")]);
  const baseId = (await docker("image", "inspect", "--format", "{{.Id}}", BASE_IMAGE)).trim();

  const hash = createHash("sha256");
  // Names relative to the checkout: another checkout of the same sources has the same image.
  for (const file of [DOCKERFILE, ...(await builtFiles())])
    hash
      .update(relative(ROOT, file))
      .update("\0")
      .update(await readFile(file))
      .update("\0");
  hash.update(baseId);
  const inputs = hash.digest("hex").slice(0, 16);
  const image = `${LAB_IMAGE_REPO}:${inputs}`;
  if (await exists(image)) {
    progress(`${image} is up to date`);
    return image;
  }

  progress(`building ${image} from ${BASE_IMAGE} (${baseId.slice(7, 19)})`);
  const started = Date.now();
  // Host network: Docker's bridges have no NAT here (decision 0010), and apt needs a mirror.
  // --force-rm: the classic builder otherwise leaves a failed step's container behind.
  // Older tags stay: they differ by the bundles' layer only (~4 MB), and removing one could
  // pull it from under a lab that another checkout is starting.
  await run(
    "docker",
    [
      ...["build", "--network", "host", "--force-rm", "--file", DOCKERFILE, "--tag", image],
      ...["--build-arg", `BASE=${BASE_IMAGE}`],
      ...["--label", `swanpair.inputs=${inputs}`, ROOT],
    ],
    (line) => {
      if (/^Step \d+\/\d+ : /.test(line))
        progress(line.length > 100 ? `${line.slice(0, 99)}…` : line);
    },
  );
  progress(`built ${image} in ${Math.round((Date.now() - started) / 1000)} s`);
  return image;
}

async function docker(...args: string[]): Promise<string> {
  return (await exec("docker", args)).stdout;
}

async function exists(image: string): Promise<boolean> {
  return docker("image", "inspect", "--format", "{{.Id}}", image).then(
    () => true,
    () => false,
  );
}

/**
 * Runs a command, passing each output line (stdout and stderr) to `onLine`; when it fails,
 * the error carries the last lines, which say why.
 */
function run(file: string, args: string[], onLine: (line: string) => void = () => {}) {
  return new Promise<void>((done, reject) => {
    const child = spawn(file, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    const tail: string[] = [];
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (line) => {
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        onLine(line);
      });
    }
    child.on("error", (err) => reject(failed(`${file} could not be started: ${errorText(err)}`)));
    child.on("close", (code, signal) => {
      if (code === 0) return done();
      const what = [file, ...args.slice(0, 2)].join(" ");
      const end = tail.length ? `; its last lines:\n${tail.join("\n")}` : "";
      reject(failed(`${what} failed (${signal ?? `exit ${code}`})${end}`));
    });
  });
}

const failed = (message: string) => new SwpError("SWP_ERR_FAILED", message);

function errorText(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  return (e.stderr?.trim() || e.message || String(err)).split("\n").at(-1) ?? "";
}

/** Every file of BUILT, directories walked, in a stable order. */
async function builtFiles(): Promise<string[]> {
  const files = await Promise.all(
    BUILT.map(async (path) => {
      const entries = await readdir(resolve(ROOT, path), {
        recursive: true,
        withFileTypes: true,
      }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOTDIR") return undefined;
        throw err;
      });
      if (entries === undefined) return [resolve(ROOT, path)];
      return entries.filter((e) => e.isFile()).map((e) => resolve(e.parentPath, e.name));
    }),
  );
  return files.flat().sort();
}
