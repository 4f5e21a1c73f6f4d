import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { loadFleetText } from "../../control-plane/src/fleet/load.ts";
import type { Fleet } from "../../control-plane/src/fleet/types.ts";

/**
 * The YAML examples of the docs, found by the marker comment on the line before each fenced
 * block (a blank line between is allowed):
 *
 *   <!-- example: agent -->            a whole agent config
 *   <!-- example: fleet -->            a whole fleet file
 *   <!-- example: lab -->              a whole lab topology
 *   <!-- example: agent fragment -->   top-level keys that replace those of the page's first
 *   <!-- example: fleet fragment -->   whole example of that kind
 *
 * A yaml block without a marker has kind undefined, which test/unit/docs-examples.test.ts
 * refuses, so that no example goes unchecked.
 */

export const DOCS = new URL("../../docs/", import.meta.url).pathname;

export interface DocExample {
  /** docs/… path and line of the opening fence, for messages. */
  where: string;
  /** The nearest heading above the block, without its #s. */
  heading: string;
  kind: "agent" | "fleet" | "lab" | undefined;
  fragment: boolean;
  yaml: string;
}

const MARKER = /^<!-- example: (agent|fleet|lab)( fragment)? -->$/;

export function yamlExamples(file: string, text: string): DocExample[] {
  const lines = text.split("\n");
  const found: DocExample[] = [];
  let heading = "";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    const title = /^#+ (.*)$/.exec(line);
    if (title) heading = title[1] ?? "";
    if (!/^```ya?ml\s*$/.test(line)) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith("```"));
    if (end < 0) throw new Error(`${file}:${i + 1}: unclosed yaml block`);
    let before = i - 1;
    while (before >= 0 && (lines[before] ?? "").trim() === "") before--;
    const marker = MARKER.exec(lines[before] ?? "");
    found.push({
      where: `${file}:${i + 1}`,
      heading,
      kind: marker?.[1] as DocExample["kind"],
      fragment: Boolean(marker?.[2]),
      yaml: `${lines.slice(i + 1, end).join("\n")}\n`,
    });
    i = end;
  }
  return found;
}

/** Every markdown page under docs/, with its examples. */
export async function docsExamples(): Promise<DocExample[]> {
  const pages = (await readdir(DOCS, { recursive: true })).filter((f) => f.endsWith(".md")).sort();
  const all = await Promise.all(
    pages.map(async (p) =>
      yamlExamples(
        relative(join(DOCS, ".."), join(DOCS, p)),
        await readFile(join(DOCS, p), "utf8"),
      ),
    ),
  );
  return all.flat();
}

/** The examples of one page, e.g. "fleet-config.md". */
export async function pageExamples(page: string): Promise<DocExample[]> {
  return yamlExamples(`docs/${page}`, await readFile(join(DOCS, page), "utf8"));
}

/** The fleet of fleet-config.md's first example, loaded: what the docs' printed outputs are of. */
export async function documentedFleet(): Promise<Fleet> {
  const [example] = await pageExamples("fleet-config.md");
  if (!example) throw new Error("docs/fleet-config.md has no yaml example");
  const loaded = await loadFleetText(example.yaml);
  if (!loaded.ok)
    throw new Error(`the documented fleet does not load: ${loaded.issues[0]?.message}`);
  return loaded.fleet;
}
