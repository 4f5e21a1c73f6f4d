/**
 * Builds the agent as one ESM file for appliances: dist/swanpair-agent.mjs. One file, no
 * node_modules, no type stripping at run time: see docs/decisions/0008-agent-bundle.md.
 *   node scripts/build-agent.ts [OUTFILE]
 */
import { chmod } from "node:fs/promises";
import { resolve } from "node:path";
import { build } from "esbuild";

const ROOT = resolve(import.meta.dirname, "..");
export const AGENT_BUNDLE = resolve(ROOT, "dist/swanpair-agent.mjs");

export async function buildAgent(outfile = AGENT_BUNDLE): Promise<string> {
  await build({
    entryPoints: [resolve(ROOT, "agent/bin/swanpair-agent.ts")],
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

if (import.meta.main) {
  process.stdout.write(
    `${await buildAgent(process.argv[2] ? resolve(process.argv[2]) : undefined)}\n`,
  );
}
