import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import {
  GOOD_PSK,
  INVALID_CONFIGS,
  materializeFixture,
  VALID_EXAMPLE,
  VALID_PSK_FILES,
} from "../fixtures/invalid-configs.ts";
import { AGENT_BIN } from "../helpers/agent-lab.ts";

/** The real CLI, spawned as a user would run it: exit codes, messages, files. */
interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [AGENT_BIN, ...args],
      { timeout: 30_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

const base = await mkdtemp("/tmp/swp-cli-");
t.teardown(() => rm(base, { recursive: true, force: true }));
let fixtureCount = 0;
/** A fresh directory per materialised fixture. */
async function fixtureDir() {
  const dir = join(base, String(fixtureCount++));
  await mkdir(dir, { recursive: true });
  return dir;
}

t.test(
  `each of ${INVALID_CONFIGS.length} invalid configs exits 2 naming the field and the rule`,
  async (t) => {
    t.ok(INVALID_CONFIGS.length >= 15);
    const results = [];
    // Four at a time: each is a whole node process.
    for (let i = 0; i < INVALID_CONFIGS.length; i += 4) {
      const batch = INVALID_CONFIGS.slice(i, i + 4);
      results.push(
        ...(await Promise.all(
          batch.map(async (fixture) => {
            const path = await materializeFixture(fixture, await fixtureDir());
            return { fixture, result: await cli("validate", "--config", path) };
          }),
        )),
      );
    }
    for (const { fixture, result } of results) {
      t.equal(result.code, 2, `${fixture.name}: exit 2`);
      t.ok(
        result.stderr.includes(`[${fixture.expectRule}]`),
        `${fixture.name}: names rule ${fixture.expectRule}`,
      );
      if (fixture.expectPath) {
        t.ok(
          result.stderr.includes(`${fixture.expectPath}:`),
          `${fixture.name}: names path ${fixture.expectPath}`,
        );
      }
      t.notOk(result.stderr.includes(GOOD_PSK), `${fixture.name}: no key in the output`);
    }
  },
);

t.test("run refuses an invalid config with exit 2 before touching anything", async (t) => {
  const fixture = INVALID_CONFIGS.find((f) => f.expectRule === "overlap");
  if (!fixture) throw new Error("fixture missing");
  const path = await materializeFixture(fixture, await fixtureDir());
  const result = await cli("run", "--config", path);
  t.equal(result.code, 2);
  t.match(result.stderr, /overlap/);
});

t.test("validate --json reports issues as data", async (t) => {
  const fixture = INVALID_CONFIGS[0];
  if (!fixture) throw new Error("fixture missing");
  const path = await materializeFixture(fixture, await fixtureDir());
  const result = await cli("validate", "--config", path, "--json");
  t.equal(result.code, 2);
  const report = JSON.parse(result.stdout);
  t.equal(report.ok, false);
  t.match(report.errors[0], { path: fixture.expectPath, rule: fixture.expectRule });
});

t.test("render prints redacted text, and --out writes the keys 0600", async (t) => {
  const path = await materializeFixture(
    { yaml: VALID_EXAMPLE, pskFiles: VALID_PSK_FILES },
    await fixtureDir(),
  );
  const shown = await cli("render", "--config", path);
  t.equal(shown.code, 0);
  t.match(shown.stdout, /to-b1 \{/);
  t.match(shown.stdout, /secret = <redacted>/);
  t.notOk(shown.stdout.includes(GOOD_PSK), "no key on stdout");
  const hex = Buffer.from(GOOD_PSK).toString("hex");
  t.notOk(shown.stdout.includes(hex), "not even hex-encoded");

  const out = join(await fixtureDir(), "out");
  const written = await cli("render", "--config", path, "--out", out);
  t.equal(written.code, 0);
  t.equal((await stat(join(out, "swanctl.conf"))).mode & 0o777, 0o600);
  t.match(await readFile(join(out, "swanctl.conf"), "utf8"), new RegExp(`secret = 0x${hex}`));
  t.match(await readFile(join(out, "strongswan.conf"), "utf8"), /kernel-libipsec/);
});

t.test("usage errors exit 2, --help exits 0", async (t) => {
  t.equal((await cli("frobnicate")).code, 2);
  t.equal((await cli("run")).code, 2, "run without --config");
  const help = await cli("--help");
  t.equal(help.code, 0);
  t.match(help.stdout, /status/);
});

t.test("status with no agent listening exits 1 with a hint", async (t) => {
  const result = await cli("status", "--socket", join(base, "nobody.sock"));
  t.equal(result.code, 1);
  t.match(result.stderr, /SWP_ERR_API_UNREACHABLE/);
});
