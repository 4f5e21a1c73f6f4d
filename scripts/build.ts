/**
 * Builds both programs as ESM bundles: dist/agent/ for appliances (swanpair-agent.mjs, and in
 * chunks/ what only some verbs load, such as the AWS SDK clients) and dist/swanpair.mjs (the
 * controller CLI, AWS SDK inside) for the lab's image. No node_modules, no type stripping at
 * run time: see docs/decisions/0008-agent-bundle.md. Also dist/deb-packages.txt, the
 * strongSwan packages Dockerfile.agent installs.
 *   node scripts/build.ts            all three, into dist/; prints their paths
 */
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { builtinModules } from "node:module";
import { dirname, resolve } from "node:path";
import { build, type Plugin } from "esbuild";
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
 * How appliances run the agent's bundle: images/package/bin/swanpair-agent (what the unit runs)
 * says the same, and the bundle's shebang below. --lite-mode: V8 without its JIT compilers,
 * 16 MB less of an idle agent; MALLOC_MMAP_THRESHOLD_: glibc returns what it allocated for
 * compiling and parsing at start instead of keeping it in a fragmented heap, 4 MB (decision
 * 0008, with the measurements and the CPU lite mode costs).
 */
export const AGENT_NODE_FLAGS = ["--max-semi-space-size=1", "--lite-mode"] as const;
export const AGENT_ENV = { MALLOC_MMAP_THRESHOLD_: "32768" } as const;

/**
 * A Node built-in as `process.getBuiltinModule()` returns it. An ES module `import` of a
 * built-in makes Node evaluate every export for the module namespace, lazy getters included:
 * node:http's WebSocket loads undici (and http2, zlib, web streams), node:tls's
 * rootCertificates parses every root certificate, node:process's stdin opens standard input.
 * An idle agent kept 12 MB of that. A bundled require() returns the same object, unevaluated.
 */
const builtinsAsRequire: Plugin = {
  name: "builtins-as-require",
  setup(b) {
    const names = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    b.onResolve({ filter: /^[a-z_:/0-9]+$/ }, (args) =>
      names.has(args.path)
        ? { path: args.path.replace(/^(node:)?/, "node:"), namespace: "builtin" }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "builtin" }, (args) => ({
      contents: `module.exports = process.getBuiltinModule(${JSON.stringify(args.path)});`,
      loader: "js",
    }));
  },
};

/**
 * Parts of dependencies the agent never uses, replaced in its bundle, each because loading it
 * cost an idle agent memory (decision 0008):
 *  - prom-client's Pushgateway (requires node:https, tls with it, and zlib), AggregatorRegistry
 *    (node:cluster), its default metrics (perf_hooks, v8; the agent's are "lean",
 *    common/metrics.ts), Histogram and Summary (a t-digest): its index requires them all; they
 *    throw if called.
 *  - zod's locales but English: `z` carries them all, and they were a third of the bundle.
 *  - node:assert in pino's sonic-boom and thread-stream, which only call assert(value,
 *    message): loaded when an assertion fails, it throws Node's own AssertionError.
 */
const unusedParts: Plugin = {
  name: "unused-parts",
  setup(b) {
    b.onResolve(
      { filter: /^\.\/lib\/(pushgateway|cluster|defaultMetrics|histogram|summary)$/ },
      (args) =>
        /[\\/]prom-client[\\/]/.test(args.importer)
          ? { path: args.path, namespace: "unused" }
          : undefined,
    );
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]/.test(args.importer)
        ? { path: resolve(args.resolveDir, "../locales/en.js"), namespace: "zod-locales" }
        : undefined,
    );
    b.onResolve({ filter: /^(node:)?assert$/ }, (args) =>
      /[\\/](sonic-boom|thread-stream)[\\/]/.test(args.importer)
        ? { path: "assert", namespace: "assert-on-failure" }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "unused" }, (args) => ({
      contents: `module.exports = function unused() { throw new Error("prom-client ${args.path} is not in the agent's bundle"); };`,
      loader: "js",
    }));
    b.onLoad({ filter: /.*/, namespace: "zod-locales" }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      loader: "js",
      resolveDir: dirname(args.path),
    }));
    b.onLoad({ filter: /.*/, namespace: "assert-on-failure" }, () => ({
      contents:
        'module.exports = function assert(value, message) { if (!value) process.getBuiltinModule("node:assert")(value, message); };',
      loader: "js",
    }));
  },
};

/**
 * The agent, with what only some verbs import() split into chunks: V8 parses a module when it
 * is loaded, so an SDK client that `run` never uses costs its memory nothing (decision 0008).
 * The directory is made afresh, so no chunk of an earlier build is left in it.
 * @returns the entry file, `<outdir>/swanpair-agent.mjs`
 */
export async function buildAgent(outdir = AGENT_DIR): Promise<string> {
  await rm(outdir, { recursive: true, force: true });
  const env = Object.entries(AGENT_ENV).map(([k, v]) => `${k}=${v}`);
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
    // require() that a dependency still calls at run time (none of Node's built-ins: the
    // plugin above) works in the ES module too.
    banner: {
      js: "const require=process.getBuiltinModule('node:module').createRequire(import.meta.url);",
    },
    plugins: [unusedParts, builtinsAsRequire],
  });
  const entry = resolve(outdir, AGENT_ENTRY);
  // The source's shebang (for development) gives way to the flags and environment above.
  const shebang = `#!/usr/bin/env -S ${[...env, "node", ...AGENT_NODE_FLAGS].join(" ")}`;
  const text = await readFile(entry, "utf8");
  if (!text.startsWith("#!")) throw new Error(`${entry} has no shebang to replace`);
  await writeFile(entry, `${shebang}${text.slice(text.indexOf("\n"))}`);
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
