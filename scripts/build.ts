/**
 * Builds both programs as ESM bundles: dist/agent/ for appliances (swanpair-agent.mjs, and in
 * chunks/ what only some verbs load, such as the AWS SDK clients) and dist/swanpair.mjs (the
 * controller CLI, AWS SDK inside) for the lab's image. No node_modules, no type stripping at
 * run time: see docs/decisions/0008-agent-bundle.md. Also dist/deb-packages.txt, the
 * strongSwan packages Dockerfile.agent installs.
 *   node scripts/build.ts            all three, into dist/; prints their paths
 */
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { build } from "esbuild";
import { DATAPATHS, debianPackagesFor, pluginsFor } from "../agent/src/render/plugins.ts";

const ROOT = resolve(import.meta.dirname, "..");
export const AGENT_DIR = resolve(ROOT, "dist/agent");
const AGENT_ENTRY = "swanpair-agent.mjs";
export const SWANPAIR_BUNDLE = resolve(ROOT, "dist/swanpair.mjs");
export const PACKAGE_LIST = resolve(ROOT, "dist/deb-packages.txt");

const COMMON = {
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
} as const;

/**
 * The agent, with what only some verbs import() split into chunks: V8 parses a module when it
 * is loaded, so an SDK client that `run` never uses costs its memory nothing (decision 0008).
 * The directory is made afresh, so no chunk of an earlier build is left in it.
 * @returns the entry file, `<outdir>/swanpair-agent.mjs`
 */
export async function buildAgent(outdir = AGENT_DIR): Promise<string> {
  await rm(outdir, { recursive: true, force: true });
  await build({
    ...COMMON,
    entryPoints: { "swanpair-agent": resolve(ROOT, "agent/bin/swanpair-agent.ts") },
    outdir,
    outExtension: { ".js": ".mjs" },
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    // A chunk of a CommonJS build exports only `default`, so import() would lose the AWS SDK
    // clients' named exports: take their ES module builds.
    mainFields: ["module", "main"],
  });
  const entry = resolve(outdir, AGENT_ENTRY);
  await chmod(entry, 0o755);
  return entry;
}

/** The controller CLI as one file. */
export async function buildSwanpair(outfile = SWANPAIR_BUNDLE): Promise<string> {
  await build({
    ...COMMON,
    entryPoints: [resolve(ROOT, "control-plane/bin/swanpair.ts")],
    outfile,
  });
  await chmod(outfile, 0o755);
  return outfile;
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
