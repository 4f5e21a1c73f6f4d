import { chmod, copyFile, mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import t from "tap";
import { parse, stringify } from "yaml";
import { loadConfigFile } from "../../agent/src/config/load.ts";
import { formatLoadResult } from "../../common/yaml-config.ts";
import { loadFleetFile } from "../../control-plane/src/fleet/load.ts";
import { loadLabText } from "../../control-plane/src/lab/topology/load.ts";
import { GOOD_PSK } from "../fixtures/invalid-configs.ts";
import { makeTestPki, type TlsPaths } from "../helpers/certs.ts";
import { type DocExample, docsExamples } from "../helpers/doc-examples.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * Every YAML example in docs/*.md loads without an error or a warning, as a user would copy
 * it: whole examples as written, fragments merged into their page's whole example. The files an
 * example names (PSK, TLS) are made under a temp dir at the same path, and only those paths are
 * rewritten; an example that names no file is loaded exactly as written.
 */

// biome-ignore lint/suspicious/noExplicitAny: config trees are free-form here.
type Tree = any;

const examples = await docsExamples();
const dir = await tempDir(t, "swp-docs-");
const pki = await makeTestPki(join(dir, "pki"));

t.test("every yaml block in docs/ is marked as an agent, fleet or lab example", async (t) => {
  t.ok(examples.length >= 6, `found ${examples.length}`);
  for (const e of examples)
    t.ok(e.kind, `${e.where}: add <!-- example: agent|fleet|lab [fragment] -->`);
  for (const kind of ["agent", "fleet"] as const) {
    t.ok(
      examples.some((e) => e.kind === kind && !e.fragment),
      `a whole ${kind} example`,
    );
  }
});

/** The whole example a fragment is merged into: the first of its kind on its page. */
function base(e: DocExample): Tree {
  const page = e.where.split(":")[0];
  const whole = examples.find(
    (x) => x.where.startsWith(`${page}:`) && x.kind === e.kind && !x.fragment,
  );
  if (!whole)
    throw new Error(`${e.where}: a fragment, but its page has no whole ${e.kind} example`);
  return parse(whole.yaml);
}

/** The files the config names, with what each must hold. */
function namedFiles(kind: "agent" | "fleet", tree: Tree): [string, string | keyof TlsPaths][] {
  if (kind === "fleet") {
    const tls: TlsPaths | undefined = tree.tls;
    return tls ? (["ca", "cert", "key"] as const).map((f) => [tls[f], f]) : [];
  }
  const tls: TlsPaths | undefined = tree.api?.listen?.tls;
  return [
    ...(tree.tunnels ?? []).flatMap((tunnel: Tree): [string, string][] =>
      tunnel.type === "aws-vpn"
        ? tunnel.tunnels.map((x: Tree): [string, string] => [x.psk.file, "aws-psk"])
        : [[tunnel.psk.file, "psk"]],
    ),
    ...(tls
      ? (["ca", "cert", "key"] as const).map((f): [string, keyof TlsPaths] => [tls[f], f])
      : []),
  ];
}

// A lab topology names no file: it loads as written.
for (const e of examples.filter((x) => x.kind === "lab")) {
  t.test(`${e.where} (${e.heading}) loads as a lab topology`, async (t) => {
    t.notOk(e.fragment, "a whole topology");
    t.same(formatLoadResult("lab.yml", loadLabText(e.yaml)), [], "no error, no warning");
  });
}

let n = 0;
for (const e of examples.filter((x) => x.kind === "agent" || x.kind === "fleet")) {
  t.test(
    `${e.where} (${e.heading}) loads as ${e.kind === "agent" ? "an agent" : "a fleet"}${e.fragment ? " fragment" : ""}`,
    async (t) => {
      const kind = e.kind as "agent" | "fleet";
      const tree = e.fragment ? { ...base(e), ...parse(e.yaml) } : parse(e.yaml);
      // fleet-config.md's whole example is also loaded as it is (fleet-config.test.ts): it may
      // name no file.
      if (kind === "fleet" && !e.fragment && e.where.startsWith("docs/fleet-config.md:"))
        t.same(namedFiles(kind, tree), [], "names no file");
      let text = e.fragment ? stringify(tree) : e.yaml;
      const here = join(dir, String(n++));
      for (const [path, what] of new Map(namedFiles(kind, tree))) {
        const real = join(here, path);
        await mkdir(dirname(real), { recursive: true });
        if (what === "psk") await writeFile(real, `${GOOD_PSK}\n`);
        // AWS's own rule: letters, digits, "." and "_" only.
        else if (what === "aws-psk") await writeFile(real, "Aws.example_key_0123456789\n");
        else
          await copyFile(
            (kind === "agent" ? pki.server : pki.client)[what as keyof TlsPaths],
            real,
          );
        await chmod(real, 0o600);
        text = text.replaceAll(path, real);
      }
      const file = join(here, `${kind}.yaml`);
      await mkdir(here, { recursive: true });
      await writeFile(file, text);
      const r = kind === "agent" ? await loadConfigFile(file) : await loadFleetFile(file);
      t.same(formatLoadResult(file, r), [], "no error, no warning");
      t.ok(r.ok);
    },
  );
}
