import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import t, { type Test } from "tap";
import { AGENT_ENV, AGENT_NODE_FLAGS, PACKAGE_LIST } from "../../scripts/build.ts";
import { buildRelease, PREFIX, packageVersion, releaseNames } from "../../scripts/package.ts";

/**
 * `npm run package` (scripts/package.ts, decision 0022): the tarball and the .deb hold the
 * documented tree with its modes and owner root, the wrappers run the bundles on the shipped
 * Node, the .deb's control fields carry the plugin table's packages, SHA256SUMS verifies,
 * a second build is byte for byte the same, and systemd-analyze accepts the units.
 */
const run = promisify(execFile);
const dir = await mkdtemp("/tmp/swp-package-");
t.teardown(() => rm(dir, { recursive: true, force: true }));

const version = await packageVersion();
const names = releaseNames(version);
const epoch = 1_700_000_000;
const first = await buildRelease({ outDir: join(dir, "one"), epoch });
const home = PREFIX.slice(1);

/** Everything but the agent's chunks, whose names carry content hashes: path → mode. */
const EXPECTED: Record<string, string> = {
  "etc/": "drwxr-xr-x",
  "etc/swanpair/": "drwx------",
  "usr/": "drwxr-xr-x",
  "usr/bin/": "drwxr-xr-x",
  "usr/bin/swanpair": "lrwxrwxrwx",
  "usr/bin/swanpair-agent": "lrwxrwxrwx",
  "usr/lib/": "drwxr-xr-x",
  [`${home}/`]: "drwxr-xr-x",
  [`${home}/VERSION`]: "-rw-r--r--",
  [`${home}/agent/`]: "drwxr-xr-x",
  [`${home}/agent/chunks/`]: "drwxr-xr-x",
  [`${home}/agent/swanpair-agent.mjs`]: "-rw-r--r--",
  [`${home}/bin/`]: "drwxr-xr-x",
  [`${home}/bin/swanpair`]: "-rwxr-xr-x",
  [`${home}/bin/swanpair-agent`]: "-rwxr-xr-x",
  [`${home}/libexec/`]: "drwxr-xr-x",
  [`${home}/libexec/charon-conf`]: "-rwxr-xr-x",
  [`${home}/node/`]: "drwxr-xr-x",
  [`${home}/node/LICENSE`]: "-rw-r--r--",
  [`${home}/node/bin/`]: "drwxr-xr-x",
  [`${home}/node/bin/node`]: "-rwxr-xr-x",
  [`${home}/share/`]: "drwxr-xr-x",
  [`${home}/share/debian-packages`]: "-rw-r--r--",
  [`${home}/swanpair.mjs`]: "-rw-r--r--",
  "usr/lib/systemd/": "drwxr-xr-x",
  "usr/lib/systemd/system/": "drwxr-xr-x",
  "usr/lib/systemd/system/swanpair-agent.service": "-rw-r--r--",
  "usr/lib/systemd/system/swanpair-charon.service": "-rw-r--r--",
  "usr/lib/systemd/system/swanpair-controller.service": "-rw-r--r--",
  "usr/share/": "drwxr-xr-x",
  "usr/share/doc/": "drwxr-xr-x",
  "usr/share/doc/swanpair/": "drwxr-xr-x",
  "usr/share/doc/swanpair/copyright": "-rw-r--r--",
  "usr/share/doc/swanpair/examples/": "drwxr-xr-x",
  "usr/share/doc/swanpair/examples/agent.yaml": "-rw-r--r--",
  "usr/share/doc/swanpair/examples/fleet.yaml": "-rw-r--r--",
  "usr/share/doc/swanpair/examples/swanpair-controller.default": "-rw-r--r--",
  "usr/share/doc/swanpair/examples/systemd/": "drwxr-xr-x",
  "usr/share/doc/swanpair/examples/systemd/child-mode.conf": "-rw-r--r--",
  "usr/share/doc/swanpair/examples/systemd/kernel-datapath.conf": "-rw-r--r--",
};
const CHUNK = new RegExp(`^${home}/agent/chunks/[\\w-]+\\.mjs$`);

interface Entry {
  mode: string;
  owner: string;
  path: string;
  target?: string;
}

/** `tar -tv` / `dpkg-deb -c` lines: mode, owner/group, size, date, time, path[ -> target]. */
function parseListing(text: string, strip: RegExp): Entry[] {
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [mode = "", owner = "", , , , ...rest] = line.split(/\s+/);
      const [path = "", target] = rest.join(" ").split(" -> ");
      return { mode, owner, path: path.replace(strip, ""), target };
    })
    .filter((e) => e.path !== "");
}

function checkTree(t: Test, entries: Entry[], rootOwner: string) {
  const byPath = new Map(entries.map((e) => [e.path, e]));
  for (const [path, mode] of Object.entries(EXPECTED))
    t.equal(byPath.get(path)?.mode, mode, `${path} ${mode}`);
  const extra = entries.filter((e) => !(e.path in EXPECTED) && !CHUNK.test(e.path));
  t.same(
    extra.map((e) => e.path),
    [],
    "nothing else but the chunks",
  );
  const chunks = entries.filter((e) => CHUNK.test(e.path));
  t.ok(chunks.length > 0, `${chunks.length} chunks`);
  t.ok(
    chunks.every((e) => e.mode === "-rw-r--r--"),
    "chunks are 0644",
  );
  t.same(
    entries.filter((e) => e.owner !== rootOwner).map((e) => `${e.path} ${e.owner}`),
    [],
    `every entry is owned by ${rootOwner}`,
  );
  t.equal(byPath.get("usr/bin/swanpair-agent")?.target, "../lib/swanpair/bin/swanpair-agent");
  t.equal(byPath.get("usr/bin/swanpair")?.target, "../lib/swanpair/bin/swanpair");
}

t.test("the tarball: one top directory, the documented tree, modes, owner root", async (t) => {
  t.equal(first.tarball, join(dir, "one", names.tarball));
  t.match(names.tarball, new RegExp(`^swanpair-${version}-linux-x64\\.tar\\.gz$`));
  const { stdout } = await run("tar", ["-tvzf", first.tarball, "--numeric-owner"], {
    maxBuffer: 1 << 24,
  });
  const top = `${names.top}/`;
  const entries = parseListing(stdout, new RegExp(`^${top.replace(/\./g, "\\.")}`));
  t.ok(
    stdout
      .split("\n")
      .filter(Boolean)
      .every((l) => l.includes(` ${top}`)),
    `everything is under ${top}`,
  );
  checkTree(t, entries, "0/0");
  t.match(stdout, new RegExp(`2023-11-14 \\d\\d:\\d\\d ${top}`), "mtime is the given epoch");
});

t.test("the unpacked tarball runs both programs on its own Node, not the system's", async (t) => {
  const out = join(dir, "unpacked");
  await mkdir(out);
  await run("tar", ["-xzf", first.tarball, "-C", out]);
  const root = join(out, names.top);
  t.equal((await readFile(join(root, home, "VERSION"), "utf8")).trim(), version);
  const listed = (await readFile(join(root, home, "share/debian-packages"), "utf8")).split("\n");
  const strongswan = (await readFile(PACKAGE_LIST, "utf8")).split("\n").filter(Boolean);
  t.same(
    listed.filter(Boolean),
    [...strongswan, "iproute2", "iputils-ping", "libc6", "libgcc-s1", "libstdc++6", "procps"],
    "the packages images/install.sh installs: the .deb's Depends, names only",
  );
  // No node on this PATH at all: /usr/bin/node (v20 here, if any) cannot be what answers.
  const env = { PATH: "/usr/bin:/bin" };
  const bare = { PATH: join(dir, "no-such-dir") };
  const which = await run("sh", ["-c", "command -v node || echo none"], { env });
  t.comment(`node on PATH=/usr/bin:/bin: ${which.stdout.trim()}`);
  for (const bin of ["usr/bin/swanpair-agent", "usr/bin/swanpair"]) {
    const { stdout } = await run(join(root, bin), ["--version"], { env });
    t.equal(stdout.trim(), version, `${bin} --version`);
  }
  // The wrappers' node is the shipped one: ask it, through the same path the wrappers use.
  const shipped = await run(join(root, home, "node/bin/node"), ["--version"], { env: bare });
  t.match(shipped.stdout.trim(), /^v24\./, "the shipped runtime is Node 24");
  t.not(shipped.stdout.trim(), which.stdout.trim(), "not the system's node");
  const wrapper = await readFile(join(root, home, "bin/swanpair-agent"), "utf8");
  // The wrapper runs the bundle as its shebang does (scripts/build.ts), flags and environment.
  t.match(
    wrapper,
    `"$home/node/bin/node" ${AGENT_NODE_FLAGS.join(" ")} "$home/agent/`,
    "the bundle's V8 flags",
  );
  for (const [name, value] of Object.entries(AGENT_ENV)) {
    t.match(wrapper, `export ${name}="\${${name}:-${value}}"`, `${name}=${value}`);
  }
  // process.execPath inside the agent: run the bundle's own node on a tiny script instead.
  const probe = await run(
    join(root, home, "node/bin/node"),
    ["-p", "process.execPath + ' ' + process.version"],
    { env: bare },
  );
  t.equal(probe.stdout.trim().split(" ")[0], join(root, home, "node/bin/node"));
});

t.test("charon-conf renders strongswan.conf for the external charon, no keys", async (t) => {
  const root = join(dir, "unpacked", names.top);
  const cfgDir = join(dir, "charon-conf");
  await mkdir(cfgDir);
  await cp(join(root, "usr/share/doc/swanpair/examples/agent.yaml"), join(cfgDir, "agent.yaml"));
  const text = (await readFile(join(cfgDir, "agent.yaml"), "utf8"))
    .replace("/etc/swanpair/psk/to-b1", join(cfgDir, "psk"))
    .replace("/var/lib/swanpair", join(cfgDir, "state"));
  await writeFile(join(cfgDir, "agent.yaml"), text);
  await writeFile(join(cfgDir, "psk"), "a-long-enough-pre-shared-key-for-the-test-0123\n", {
    mode: 0o600,
  });
  const out = join(cfgDir, "strongswan.conf");
  await run(join(root, home, "libexec/charon-conf"), [join(cfgDir, "agent.yaml"), out], {
    env: { PATH: "/usr/bin:/bin" },
  });
  const conf = await readFile(out, "utf8");
  t.match(conf, /socket = unix:\/\/\/run\/swanpair-charon\/charon\.vici/, "the example's VICI");
  t.match(conf, /load = .*kernel-libipsec/, "the datapath's plugins");
  t.notMatch(conf, /a-long-enough/, "no key");
  t.equal((await stat(out)).mode & 0o777, 0o600);
  const bad = await run(join(root, home, "libexec/charon-conf"), [join(cfgDir, "none.yaml"), out], {
    env: { PATH: "/usr/bin:/bin" },
  }).catch((e: { code: number; stderr: string }) => e);
  t.equal((bad as { code: number }).code, 1, "no config file: render's exit code, 1");
  t.match((bad as { stderr: string }).stderr, /charon-conf: swanpair-agent render/);
});

t.test("the .deb: control fields, Depends, contents and modes", async (t) => {
  t.equal(first.deb, join(dir, "one", `swanpair_${version}_amd64.deb`));
  const field = async (name: string) =>
    (await run("dpkg-deb", ["-f", first.deb, name])).stdout.trim();
  t.equal(await field("Package"), "swanpair");
  t.equal(await field("Version"), version);
  t.equal(await field("Architecture"), "amd64");
  const depends = (await field("Depends")).split(/,\s*/);
  t.equal(await field("Suggests"), "frr", "Suggests: frr (aws-vpn BGP)");
  const strongswan = (await readFile(PACKAGE_LIST, "utf8")).split("\n").filter(Boolean);
  t.ok(strongswan.length >= 5, `${strongswan.length} strongSwan packages in the list`);
  for (const pkg of strongswan) t.ok(depends.includes(pkg), `Depends: ${pkg}`);
  for (const pkg of ["procps", "iproute2", "iputils-ping"])
    t.ok(depends.includes(pkg), `Depends: ${pkg} (units, preflight, aws-vpn)`);
  t.ok(
    depends.some((d) => d.startsWith("libstdc++6")),
    "Depends: libstdc++6 (the Node binary)",
  );
  const { stdout } = await run("dpkg-deb", ["-c", first.deb], { maxBuffer: 1 << 24 });
  checkTree(t, parseListing(stdout, /^\.\//), "root/root");
  const control = await run("dpkg-deb", ["-I", first.deb]);
  t.match(control.stdout, /postinst/);
  t.notMatch(control.stdout, /conffiles/, "no conffiles: examples only");
});

t.test("SHA256SUMS verifies, and a second build is the same to the byte", async (t) => {
  const sums = await readFile(first.sums, "utf8");
  t.match(sums, new RegExp(`^[0-9a-f]{64}  ${names.tarball}$`, "m"));
  t.match(sums, new RegExp(`^[0-9a-f]{64}  swanpair_${version}_amd64\\.deb$`, "m"));
  const check = await run("sha256sum", ["-c", "SHA256SUMS"], { cwd: join(dir, "one") });
  t.match(check.stdout, /: OK\n.*: OK/);
  const second = await buildRelease({ outDir: join(dir, "two"), epoch });
  t.equal(await readFile(second.sums, "utf8"), sums, "identical checksums");
});

t.test("systemd-analyze verify accepts the units; security scores", async (t) => {
  // A root with the tree, systemd's own targets, and the programs the units name.
  const root = join(dir, "verify");
  await cp(join(dir, "unpacked", names.top), root, { recursive: true, verbatimSymlinks: true });
  await mkdir(join(root, "bin"), { recursive: true });
  await mkdir(join(root, "usr/sbin"), { recursive: true });
  await cp("/bin/kill", join(root, "bin/kill"));
  await cp("/usr/sbin/charon-systemd", join(root, "usr/sbin/charon-systemd"));
  const { stdout: targets } = await run("sh", ["-c", "ls /lib/systemd/system/*.target"]);
  for (const target of targets.split("\n").filter(Boolean))
    await cp(target, join(root, "usr/lib/systemd/system", target.split("/").at(-1) ?? ""));
  for (const unit of ["swanpair-agent", "swanpair-charon", "swanpair-controller"]) {
    const file = join(root, "usr/lib/systemd/system", `${unit}.service`);
    const verify = await run("systemd-analyze", ["verify", `--root=${root}`, file]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    t.equal((verify as { code?: number }).code ?? 0, 0, `${unit}: verify exits 0`);
    t.equal((verify as { stderr: string }).stderr, "", `${unit}: verify says nothing`);
    const security = await run("systemd-analyze", [
      "security",
      "--offline=yes",
      `--root=${root}`,
      file,
    ]).catch((e: { stdout: string }) => e);
    const score = /Overall exposure level for \S+: ([\d.]+)/.exec(
      (security as { stdout: string }).stdout,
    )?.[1];
    t.comment(`${unit}: systemd-analyze security ${score}`);
    t.ok(score !== undefined && Number(score) <= 3, `${unit}: exposure ${score} is at most 3`);
  }
});
