import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";

/**
 * The control plane talks to agents only through their contract in common/ (the API, the
 * config format, the SA states): it never imports the agent's own code, so that either can
 * change its insides without the other noticing.
 */

const ROOT = join(import.meta.dirname, "../..");

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

t.test("control-plane/ and common/ import nothing from agent/", async (t) => {
  const files = [
    ...(await sources(join(ROOT, "control-plane"))),
    ...(await sources(join(ROOT, "common"))),
  ];
  t.ok(files.length > 50, `read ${files.length} files`);
  const offending = [];
  for (const file of files) {
    const text = await readFile(file, "utf8");
    for (const m of text.matchAll(/from\s+"([^"]*\/agent\/[^"]*)"/g))
      offending.push(`${file.slice(ROOT.length + 1)}: ${m[1]}`);
  }
  t.same(offending, []);
});
