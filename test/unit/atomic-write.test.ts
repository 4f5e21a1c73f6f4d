import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { writeFileAtomic } from "../../common/atomic-write.ts";

const dir = await mkdtemp(join(tmpdir(), "swp-atomic-"));
t.teardown(() => rm(dir, { recursive: true, force: true }));

t.test("writes at once to one file each get a temp file of their own", async (t) => {
  const path = join(dir, "state.json");
  const contents = Array.from({ length: 20 }, (_, i) => `{"generation":${i}}\n`);
  // The temp names are not random: were two the same, "wx" would refuse the second.
  await Promise.all(contents.map((c) => writeFileAtomic(path, c, 0o600)));
  t.ok(contents.includes(await readFile(path, "utf8")), "one whole write, not a torn one");
  t.equal((await stat(path)).mode & 0o777, 0o600, "the mode asked for");
  t.same(await readdir(dir), ["state.json"], "no temp file left");
});

t.test("a write that fails leaves neither the file nor a temp file", async (t) => {
  const path = join(dir, "no-such-dir", "x");
  await t.rejects(writeFileAtomic(path, "x"), { code: "ENOENT" });
  t.same(await readdir(dir), ["state.json"]);
});
