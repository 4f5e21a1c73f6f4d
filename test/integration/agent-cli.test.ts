import { randomBytes } from "node:crypto";
import { access, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { stringify } from "yaml";
import { startApiServer } from "../../agent/src/api/server.ts";
import { createLogger } from "../../common/logger.ts";
import { buildAgent } from "../../scripts/build.ts";
import {
  baseTree,
  GOOD_PSK,
  INVALID_CONFIGS,
  materializeFixture,
  PSK_PATH,
  type Tree,
  VALID_EXAMPLE,
  VALID_PSK_FILES,
} from "../fixtures/invalid-configs.ts";
import { AGENT_BIN } from "../helpers/agent-lab.ts";
import { control } from "../helpers/api-fakes.ts";
import { spawnCli, spawnCliOnTty } from "../helpers/swanpair-bin.ts";

/** The real CLI, spawned as a user would run it: exit codes, messages, files. */
const cli = (...args: string[]) => spawnCli(AGENT_BIN, args);
const PACKAGE = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8"));

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

t.test("a PSK file with a malformed 0x key: validate and run exit 2, nothing starts", async (t) => {
  const dir = await fixtureDir();
  const key = "0x4b66382376513d6d214c783940507234z";
  await writeFile(join(dir, "psk"), `${key}\n`, { mode: 0o600 });
  const tree = baseTree();
  tree.stateDir = join(dir, "state");
  tree.api.socket = join(dir, "state", "agent.sock");
  tree.tunnels[0].psk.file = join(dir, "psk");
  const path = join(dir, "config.yaml");
  await writeFile(path, stringify(tree));

  for (const command of ["validate", "run"]) {
    const result = await cli(command, "--config", path);
    t.equal(result.code, 2, `${command}: exit 2`);
    t.match(
      result.stderr,
      /tunnels\[0\]\.psk\.file: .*read as hex.*not a hex digit.*\[psk-hex\]/,
      command,
    );
    t.notOk(result.stderr.includes(key.slice(2, 12)), `${command}: no part of the key`);
  }
  const started = await access(tree.stateDir).then(
    () => true,
    () => false,
  );
  t.notOk(started, "run created no state directory: no charon, no socket");
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

// The UX review: version, examples, --json everywhere, NO_COLOR, bounded error output.

const COMMANDS = [
  "run",
  "doctor",
  "validate",
  "render",
  "status",
  "reload",
  "initiate",
  "terminate",
];

t.test("--version prints the package version; every command has examples and --json", async (t) => {
  for (const flag of ["--version", "-V"]) {
    const version = await cli(flag);
    t.equal(version.code, 0);
    t.equal(version.stdout, `${PACKAGE.version}\n`, flag);
  }
  for (const command of COMMANDS) {
    const help = await cli(command, "--help");
    t.equal(help.code, 0, `${command} --help`);
    t.match(help.stdout, /--json/, `${command} has --json`);
    t.match(help.stdout, new RegExp(`Examples:\\n  \\$ swanpair-agent ${command} `), command);
  }
  t.match((await cli("--help")).stdout, /Examples:\n {2}\$ swanpair-agent validate/);
});

/** A config dir holding the fixtures' base config (changed by `change`) and its PSK file. */
async function config(change?: (tree: Tree) => void): Promise<string> {
  const tree = baseTree();
  change?.(tree);
  return materializeFixture(
    { yaml: stringify(tree), pskFiles: VALID_PSK_FILES },
    await fixtureDir(),
  );
}

t.test(
  "under --json, errors are one JSON document on stdout, with the usual exit codes",
  async (t) => {
    const usage = await cli("validate", "--json");
    t.equal(usage.code, 2);
    t.same(JSON.parse(usage.stdout), {
      error: { code: "SWP_ERR_USAGE", message: "required option '--config <file>' not specified" },
    });
    t.equal(usage.stderr, "", "commander's own text is silenced");
    t.match(JSON.parse((await cli("frobnicate", "--json")).stdout), {
      error: { code: "SWP_ERR_USAGE" },
    });

    const bad = await config((c: Tree) => {
      c.tunnels[0].remoteAddress = "10.1.0.300";
    });
    for (const command of ["run", "render"]) {
      const r = await cli(command, "--config", bad, "--json");
      t.equal(r.code, 2, command);
      t.match(JSON.parse(r.stdout), {
        error: {
          code: "SWP_ERR_CONFIG_INVALID",
          file: bad,
          issues: [{ path: "tunnels[0].remoteAddress", rule: "format" }],
          warnings: [],
        },
      });
    }

    const unreachable = await cli("status", "--socket", join(base, "nobody.sock"), "--json");
    t.equal(unreachable.code, 1);
    t.match(JSON.parse(unreachable.stdout), { error: { code: "SWP_ERR_API_UNREACHABLE" } });
    for (const verb of ["reload", "initiate"]) {
      const args = verb === "initiate" ? [verb, "x"] : [verb];
      const r = await cli(...args, "--socket", join(base, "nobody.sock"), "--json");
      t.equal(r.code, 1, verb);
      t.match(JSON.parse(r.stdout), { error: { code: "SWP_ERR_API_UNREACHABLE" } }, verb);
    }
  },
);

t.test("render --json carries the redacted text; --out --json what it wrote", async (t) => {
  const path = await config();
  const shown = await cli("render", "--config", path, "--json");
  t.equal(shown.code, 0, shown.stderr);
  const rendered = JSON.parse(shown.stdout);
  t.match(rendered.swanctlConf, /secret = <redacted>/);
  t.match(rendered.strongswanConf, /charon/);
  t.notOk(shown.stdout.includes(GOOD_PSK));
  const out = join(await fixtureDir(), "out");
  const wrote = await cli("render", "--config", path, "--out", out, "--json");
  t.same(JSON.parse(wrote.stdout), {
    wrote: [join(out, "swanctl.conf"), join(out, "strongswan.conf")],
  });
});

t.test("an invalid address is quoted in the error", async (t) => {
  const path = await config((c: Tree) => {
    c.tunnels[0].remoteAddress = "10.1.0.300";
    c.appliance.publicAddress = "2001:db8::zz";
  });
  const r = await cli("validate", "--config", path);
  t.equal(r.code, 2);
  t.match(r.stderr, 'tunnels[0].remoteAddress: "10.1.0.300" is not an IPv4 address [format]');
  t.match(r.stderr, 'appliance.publicAddress: "2001:db8::zz" is not an IPv6 address [format]');
});

t.test("a refused config prints its warnings with its errors", async (t) => {
  // A second tunnel to the same remote subnets (a remote-overlap warning) whose PSK is missing.
  const path = await config((c: Tree) => {
    c.tunnels.push({
      ...c.tunnels[0],
      name: "to-b2",
      remoteAddress: "198.51.100.21",
      psk: { file: `${PSK_PATH}-missing` },
      probe: undefined,
    });
  });
  const human = await cli("validate", "--config", path);
  t.equal(human.code, 2);
  t.match(human.stderr, /tunnels\[1\]\.psk\.file: .* does not exist \[psk-file\]/);
  t.match(human.stderr, /tunnels\[1\]\.remoteSubnets\[0\]: warning: .*\[remote-overlap\]/);
  const json = JSON.parse((await cli("validate", "--config", path, "--json")).stdout);
  t.match(json, {
    ok: false,
    errors: [{ rule: "psk-file" }],
    warnings: [{ rule: "remote-overlap" }],
  });
  const run = await cli("run", "--config", path);
  t.equal(run.code, 2);
  t.match(run.stderr, /\[remote-overlap\]/, "run shows them too");
});

t.test(
  "a config over 1 MiB is refused in one line; garbage prints at most 50 issues",
  async (t) => {
    const dir = await fixtureDir();
    const big = join(dir, "big.yaml");
    await writeFile(big, randomBytes(5 * 1024 * 1024));
    const r = await cli("validate", "--config", big);
    t.equal(r.code, 2);
    t.equal(r.stdout, "");
    t.equal(
      r.stderr,
      `${big}: the file is 5242880 bytes, over the 1048576-byte (1 MiB) limit of a config file; is it the right file? [size]\n`,
    );
    const run = await cli("run", "--config", big, "--json");
    t.equal(run.code, 2);
    t.match(JSON.parse(run.stdout), {
      error: { code: "SWP_ERR_CONFIG_INVALID", issues: [{ path: "", rule: "size" }] },
    });

    // Under the limit, random bytes make hundreds of YAML errors that quote the bytes around them.
    const garbage = join(dir, "garbage.yaml");
    await writeFile(garbage, randomBytes(700 * 1024));
    const g = await cli("validate", "--config", garbage);
    t.equal(g.code, 2);
    const lines = g.stderr.trimEnd().split("\n");
    t.ok(lines.length <= 51, `${lines.length} lines`);
    t.ok(g.stderr.length < 51 * 600, `${g.stderr.length} bytes`);
    if (lines.length === 51) t.match(lines[50], /^.*: … and \d+ more errors?$/);
    const j = JSON.parse((await cli("validate", "--config", garbage, "--json")).stdout);
    t.ok(j.errors.length + j.warnings.length <= 50, "JSON is capped alike");
    if (j.omitted) t.equal(j.errors.length, 50);
  },
);

t.test("status colours states on a terminal, unless NO_COLOR is set", async (t) => {
  const socketPath = join(await fixtureDir(), "agent.sock");
  const logger = createLogger({ name: "fake-agent", level: "silent" });
  const server = await startApiServer({ socketPath, control: control(), logger });
  t.teardown(() => server.close());
  const env = (extra: Record<string, string>) => {
    const { NO_COLOR: _, ...rest } = process.env;
    return { ...rest, TERM: "xterm", ...extra };
  };
  const args = ["status", "--socket", socketPath];
  const tty = await spawnCliOnTty(AGENT_BIN, args, env({}));
  t.equal(tty.code, 0, tty.stdout);
  t.match(tty.stdout, "\x1b[32mup", "green on a terminal");
  const empty = await spawnCliOnTty(AGENT_BIN, args, env({ NO_COLOR: "" }));
  t.match(empty.stdout, "\x1b[32m", "an empty NO_COLOR does not count (no-color.org)");
  const plain = await spawnCliOnTty(AGENT_BIN, args, env({ NO_COLOR: "1" }));
  t.equal(plain.code, 0);
  t.match(plain.stdout, /to-dc1\s+up/);
  t.notMatch(plain.stdout, "\x1b[", "no escape at all with NO_COLOR");
  const piped = await spawnCli(AGENT_BIN, args, env({}));
  t.notMatch(piped.stdout, "\x1b[", "none when piped");
});

t.test("the build reports the same version", async (t) => {
  const bin = await buildAgent(join(await fixtureDir(), "agent"));
  const r = await spawnCli(bin, ["--version"]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `${PACKAGE.version}\n`);
});
