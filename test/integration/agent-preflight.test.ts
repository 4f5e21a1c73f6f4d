import { access, mkdir, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { stringify } from "yaml";
import type { CheckResult } from "../../agent/src/preflight/checks.ts";
import { pluginsFor } from "../../agent/src/render/plugins.ts";
import { AGENT_BIN, AgentLab, waitFor } from "../helpers/agent-lab.ts";
import { writeBrokenCharon } from "../helpers/charon.ts";
import { spawnCli } from "../helpers/swanpair-bin.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * A machine without a plugin (the openssl plugin once went missing from set-up) and a charon
 * that exits at once: `doctor` and `run` must say what is missing, and a crash loop must show
 * in status with charon's own reason.
 */

const PLUGINS = "/usr/lib/ipsec/plugins";
const cli = (...args: string[]) => spawnCli(AGENT_BIN, args);

const lab = await AgentLab.create("swp-pfl", { subnets: 1 });
t.teardown(() => lab.cleanup());

/** Every installed plugin but `hidden`, as links in a directory of the test's own. */
async function pluginDirWithout(hidden: string, dir: string) {
  const into = join(dir, `plugins-without-${hidden}`);
  await mkdir(into);
  for (const f of await readdir(PLUGINS)) {
    if (f !== `libstrongswan-${hidden}.so`) await symlink(join(PLUGINS, f), join(into, f));
  }
  return into;
}

/** Side a's config with `charon` settings merged in; returns its path. */
async function writeConfig(charon: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const config = lab.config("a", [{ name: "to-b", subnet: 0, probe: false }]);
  await lab.writeRawConfig("a", stringify({ ...config, charon, ...extra }));
  return lab.configPath("a");
}

t.test("a missing plugin: doctor and run exit 1 naming the plugin and its package", async (t) => {
  const dir = await tempDir(t, "swp-pfl-");
  const config = await writeConfig({
    mode: "child",
    pluginDir: await pluginDirWithout("openssl", dir),
  });
  const expected =
    'strongSwan plugin "openssl" is not installed (Debian package libstrongswan-standard-plugins)';

  const doctor = await cli("doctor", "--config", config);
  t.equal(doctor.code, 1, "doctor exits 1");
  t.match(doctor.stdout, expected);
  t.match(doctor.stdout, /^FAIL +plugin:openssl/m);
  t.match(doctor.stdout, /^ok +plugin:kdf/m, "the plugins that are there pass");
  t.match(doctor.stdout, "install: apt-get install libstrongswan-standard-plugins");

  const json = await cli("doctor", "--config", config, "--json");
  t.equal(json.code, 1);
  const report = JSON.parse(json.stdout) as { ok: boolean; checks: CheckResult[] };
  t.equal(report.ok, false);
  const ids = report.checks.map((c) => c.id);
  t.same(
    ids,
    [
      "charon-binary",
      ...pluginsFor("libipsec").map((p) => `plugin:${p}`),
      "state-dir",
      "tun-device",
    ],
    "every check is listed, in order",
  );
  const failed = report.checks.filter((c) => c.status === "fail");
  t.same(
    failed.map((c) => [c.id, c.package]),
    [["plugin:openssl", "libstrongswan-standard-plugins"]],
    "only the hidden plugin fails, with its package",
  );

  const started = Date.now();
  const run = await cli("run", "--config", config);
  t.equal(run.code, 1, "run exits 1");
  t.ok(Date.now() - started < 10_000, "run does not loop: it exits at once");
  t.match(run.stderr, expected);
  t.match(run.stderr, "nothing was started");
  const runJson = await cli("run", "--config", config, "--json");
  t.equal(runJson.code, 1);
  const error = JSON.parse(runJson.stdout).error;
  t.equal(error.code, "SWP_ERR_PREFLIGHT", "under --json: the error as JSON, with its code");
  t.match(error.message, expected);
  await t.rejects(
    access(join(lab.dir, "a", "charon.log")),
    "charon was never started (it has no log)",
  );
});

t.test("doctor passes on this machine, and skips charon's checks in external mode", async (t) => {
  const child = await cli("doctor", "--config", await writeConfig({ mode: "child" }));
  t.equal(child.code, 0, "doctor exits 0 when every check passes");
  t.match(child.stdout, /all \d+ checks passed/);

  const external = await writeConfig({ mode: "external", vici: lab.vici("a") });
  const json = await cli("doctor", "--config", external, "--json");
  t.equal(json.code, 0);
  const checks = (JSON.parse(json.stdout) as { checks: CheckResult[] }).checks;
  t.ok(
    checks
      .filter((c) => c.id === "charon-binary" || c.id.startsWith("plugin:"))
      .every((c) => c.status === "skip"),
    "charon's binary and plugins are someone else's",
  );
  t.equal(checks.find((c) => c.id === "state-dir")?.status, "pass");
});

t.test("an unwritable state directory and a missing charon binary fail doctor", async (t) => {
  const dir = await tempDir(t, "swp-pfl-");
  // A file where the state directory's parent should be: not writable, even for root.
  await writeFile(join(dir, "file"), "");
  const config = await writeConfig(
    { mode: "child", binary: join(dir, "no-charon") },
    { stateDir: join(dir, "file", "state") },
  );
  const json = await cli("doctor", "--config", config, "--json");
  t.equal(json.code, 1);
  const checks = (JSON.parse(json.stdout) as { checks: CheckResult[] }).checks;
  const byId = new Map(checks.map((c) => [c.id, c]));
  t.equal(byId.get("charon-binary")?.status, "fail");
  t.equal(byId.get("charon-binary")?.package, "charon-systemd");
  t.match(byId.get("state-dir")?.message, /is not writable/);
});

t.test("charon that exits at once: crash-loop with charon's reason within 5 s", async (t) => {
  const dir = await tempDir(t, "swp-pfl-");
  const { binary, brokenConf } = await writeBrokenCharon(dir);
  await writeConfig({ mode: "child", binary });

  const started = Date.now();
  lab.startAgent("a");
  const status = await waitFor(
    "crash-loop in status",
    async () => {
      const s = await lab.status("a");
      return s?.charon.state === "crash-loop" && s;
    },
    5000,
  );
  t.ok(Date.now() - started <= 5000, `crash-loop reported after ${Date.now() - started} ms`);
  t.equal(status.charon.lastExit?.code, 66, "charon's exit code");
  t.match(status.charon.lastExit?.reason, /syntax error/, "the reason is charon's own words");
  t.match(status.charon.lastExit?.reason, /invalid config/);

  const json = await cli("status", "--socket", lab.socket("a"), "--json");
  t.equal(JSON.parse(json.stdout).charon.state, "crash-loop", "status --json shows it");
  const human = await cli("status", "--socket", lab.socket("a"));
  t.match(human.stdout, /charon crash-loop/);
  t.match(human.stdout, /charon exited \(code 66\) after [\d.]+ s: .*syntax error/);
  t.match(await lab.log("a"), /charon is in a crash loop: .*syntax error/, "the agent's log");

  // Fixed (the broken file gone): the next retry runs charon and the loop ends.
  await rm(brokenConf);
  await waitFor(
    "charon running again",
    async () => (await lab.status("a"))?.charon.state === "running",
    30_000,
  );
  t.pass("a fixed charon leaves the crash loop");
});
