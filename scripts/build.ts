/**
 * Builds both programs as single ESM files: dist/swanpair-agent.mjs for appliances and
 * dist/swanpair.mjs (the controller CLI, AWS SDK inside) for the lab's image. One file, no
 * node_modules, no type stripping at run time: see docs/decisions/0008-agent-bundle.md. Also
 * dist/deb-packages.txt, the strongSwan packages Dockerfile.agent installs.
 *   node scripts/build.ts            all three, into dist/; prints their paths
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { build } from "esbuild";
import { DATAPATHS, debianPackagesFor, pluginsFor } from "../agent/src/render/plugins.ts";

const ROOT = resolve(import.meta.dirname, "..");
export const AGENT_BUNDLE = resolve(ROOT, "dist/swanpair-agent.mjs");
export const SWANPAIR_BUNDLE = resolve(ROOT, "dist/swanpair.mjs");
export const PACKAGE_LIST = resolve(ROOT, "dist/deb-packages.txt");

async function bundle(entry: string, outfile: string): Promise<string> {
  await build({
    entryPoints: [resolve(ROOT, entry)],
    outfile,
    bundle: true,
    minify: true,
    platform: "node",
    target: "node24",
    format: "esm",
    legalComments: "eof",
    // Bundled CommonJS dependencies call require() for Node's built-ins.
    banner: {
      js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);",
    },
    logLevel: "warning",
  });
  await chmod(outfile, 0o755);
  return outfile;
}

export function buildAgent(outfile = AGENT_BUNDLE): Promise<string> {
  return bundle("agent/bin/swanpair-agent.ts", outfile);
}

export function buildSwanpair(outfile = SWANPAIR_BUNDLE): Promise<string> {
  return bundle("control-plane/bin/swanpair.ts", outfile);
}

/**
 * The strongSwan packages the agent's rendered configs load, one per line, for
 * Dockerfile.agent: the plugin table stays the only list, and a plain `docker build` needs no
 * build argument.
 */
export async function writePackageList(outfile = PACKAGE_LIST): Promise<string> {
  const plugins = DATAPATHS.flatMap(pluginsFor);
  await mkdir(dirname(outfile), { recursive: true });
  await writeFile(outfile, `${debianPackagesFor(plugins).join("\n")}\n`);
  return outfile;
}

/** Both bundles and the package list, at their default paths. */
export function buildAll(): Promise<string[]> {
  return Promise.all([buildAgent(), buildSwanpair(), writePackageList()]);
}

if (import.meta.main) {
  process.stdout.write(`${(await buildAll()).join("\n")}\n`);
}
