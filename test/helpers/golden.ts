import { readFile, writeFile } from "node:fs/promises";
import type { Test } from "tap";

/**
 * Compares rendered text with its golden file under test/fixtures/golden/; `UPDATE_GOLDEN=1`
 * rewrites the file instead, to be reviewed in the diff like any other change.
 */
export async function matchesGolden(t: Test, file: string, actual: string): Promise<void> {
  const url = new URL(`../fixtures/golden/${file}`, import.meta.url);
  if (process.env.UPDATE_GOLDEN === "1") await writeFile(url, actual);
  t.equal(
    actual,
    await readFile(url, "utf8").catch(() => ""),
    `${file} matches the golden file (UPDATE_GOLDEN=1 rewrites it)`,
  );
}
