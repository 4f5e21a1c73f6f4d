import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { ErrorCodes } from "../../common/errors.ts";

/**
 * The error catalogue (common/errors.ts), its page (docs/errors.md) and the product code agree:
 * each code is documented and each documented code exists; each code is reported by some
 * product code, so that a code nothing throws fails here rather than mislead an operator; and
 * a retired code never comes back.
 */

const ROOT = new URL("../../", import.meta.url).pathname;
const CATALOGUE = "common/errors.ts";
const PRODUCT_DIRS = ["agent", "control-plane", "common"];

const codes = Object.keys(ErrorCodes).sort();
const page = await readFile(join(ROOT, "docs/errors.md"), "utf8");
/** The first column of the table: "| `SWP_ERR_X` | meaning | what to do |". */
const documented = [...page.matchAll(/^\| `(SWP_ERR_\w+)` \|/gm)].map((m) => m[1] as string);
const retiredLine = /^Retired codes.*?(?=\n\n)/ms.exec(page)?.[0] ?? "";
const retired = [...retiredLine.matchAll(/`(SWP_ERR_\w+)`/g)].map((m) => m[1] as string);

/** Product sources (not tests, not the catalogue itself), path relative to the repository. */
async function productSources(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const dir of PRODUCT_DIRS) {
    for (const name of await readdir(join(ROOT, dir), { recursive: true })) {
      const path = join(dir, name);
      if (path.endsWith(".ts") && path !== CATALOGUE)
        out.set(path, await readFile(join(ROOT, path), "utf8"));
    }
  }
  return out;
}

t.test("docs/errors.md documents exactly the codes of the catalogue, once each", async (t) => {
  t.same([...documented].sort(), codes);
  t.equal(new Set(documented).size, documented.length, "no code has two rows");
});

t.test("retired codes are listed and none is back in the catalogue", async (t) => {
  t.ok(retired.includes("SWP_ERR_CHARON_START"), "SWP_ERR_CHARON_START is retired");
  for (const code of retired) t.notOk(code in ErrorCodes, `${code} stays retired`);
});

t.test("every code is reported by product code", async (t) => {
  const sources = await productSources();
  t.ok(sources.size > 50, `read ${sources.size} product sources`);
  for (const code of codes) {
    // A quoted literal: a code named in a comment reports nothing.
    const literal = new RegExp(`["'\`]${code}["'\`]`);
    const users = [...sources].filter(([, text]) => literal.test(text)).map(([path]) => path);
    t.ok(users.length > 0, `${code} is used`, { users });
  }
});
