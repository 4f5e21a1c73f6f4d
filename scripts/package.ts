/**
 * The release artifacts (issue 12, item 1; docs/decisions/0022-release-artifacts.md), into
 * dist/release/:
 *   swanpair-<version>-linux-x64.tar.gz  the installed file tree under one top directory
 *   swanpair_<version>_amd64.deb         the same tree for dpkg and apt (dpkg-deb, no debhelper)
 *   SHA256SUMS                           both, for `sha256sum -c`
 * The tree: both bundles (scripts/build.ts; their dependencies are inside, so no node_modules),
 * the Node 24 runtime of the npm `node` package in .tools/, wrappers that run the bundles on
 * it, the systemd units (images/systemd/), examples, licences and a VERSION file, under
 * /usr/lib/swanpair. Reproducible: every mtime is SOURCE_DATE_EPOCH (else the last commit's
 * time), entries sorted, owner root:root, gzip without name or time.
 *   node scripts/package.ts [--out DIR]     prints the three paths
 */
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import {
  chmod,
  copyFile,
  cp,
  lstat,
  lutimes,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { basename, dirname, join, relative, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { createGzip } from "node:zlib";
import { buildAgent, buildSwanpair, PACKAGE_LIST, writePackageList } from "./build.ts";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "..");
export const RELEASE_DIR = resolve(ROOT, "dist/release");
/** Where both artifacts install the programs: see decision 0022 for why not /opt. */
export const PREFIX = "/usr/lib/swanpair";
const IMAGES = resolve(ROOT, "images");

/** The only executable files of the tree; the rest is 0644, directories 0755. */
const EXECUTABLES = new Set(
  ["node/bin/node", "bin/swanpair-agent", "bin/swanpair", "libexec/charon-conf"].map(
    (p) => `${PREFIX.slice(1)}/${p}`,
  ),
);

/** Node's name for the CPU (process.arch) → Debian's. */
const DEB_ARCH: Readonly<Record<string, string>> = { x64: "amd64", arm64: "arm64" };

/**
 * What the package needs beside the strongSwan packages of the plugin table: the Node
 * runtime's shared libraries (it needs glibc 2.28 and GLIBCXX_3.4.21, from GCC 5), `ip` for
 * the kernel datapath's preflight and aws-vpn datapaths, `ping` for aws-vpn tunnels' probe,
 * and /bin/kill for the units' ExecReload.
 */
const EXTRA_DEPENDS = [
  "iproute2",
  "iputils-ping",
  "libc6 (>= 2.28)",
  "libgcc-s1",
  "libstdc++6 (>= 5)",
  "procps",
];

export interface NodeRuntime {
  binary: string;
  license: string;
  version: string;
}

/** The Node binary of the npm `node` package in .tools/, with its licence and exact version. */
export async function findNodeRuntime(
  tools = resolve(ROOT, ".tools/node_modules"),
): Promise<NodeRuntime> {
  const dir = join(tools, "node/node_modules", `node-linux-${process.arch}`);
  const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8")) as { version: string };
  const binary = join(dir, "bin/node");
  const { stdout } = await run(binary, ["--version"]);
  if (stdout.trim() !== `v${pkg.version}`)
    throw new Error(`${binary} says ${stdout.trim()}, its package v${pkg.version}`);
  if (!pkg.version.startsWith("24."))
    throw new Error(`${binary} is Node ${pkg.version}; the release ships Node 24`);
  return { binary, license: join(dir, "LICENSE"), version: pkg.version };
}

/** SOURCE_DATE_EPOCH, else the last commit's time, else 0. */
export async function sourceDateEpoch(env = process.env): Promise<number> {
  if (env.SOURCE_DATE_EPOCH && /^\d+$/.test(env.SOURCE_DATE_EPOCH))
    return Number(env.SOURCE_DATE_EPOCH);
  try {
    const { stdout } = await run("git", ["-C", ROOT, "log", "-1", "--format=%ct"]);
    return Number(stdout.trim()) || 0;
  } catch {
    return 0;
  }
}

export async function packageVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(resolve(ROOT, "package.json"), "utf8"));
  return pkg.version as string;
}

export function releaseNames(version: string, arch = process.arch) {
  const deb = DEB_ARCH[arch];
  if (!deb) throw new Error(`no Debian architecture is known for ${arch}`);
  const top = `swanpair-${version}-linux-${arch}`;
  return { top, tarball: `${top}.tar.gz`, deb: `swanpair_${version}_${deb}.deb`, debArch: deb };
}

/** One line of the copyright file per part, so `dpkg -L` users find every licence. */
function copyright(nodeVersion: string): string {
  return `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: swanpair

Files: *
Copyright: the swanpair authors
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0;
 elsewhere see https://www.apache.org/licenses/LICENSE-2.0.

Files: usr/lib/swanpair/agent/* usr/lib/swanpair/swanpair.mjs
Copyright: the authors of the bundled npm packages
License: various
 The bundles hold their npm dependencies (AWS SDK, commander, pino, prom-client, yaml, zod
 and theirs); the licence comments of each are kept at the end of each bundle file.

Files: usr/lib/swanpair/node/*
Copyright: Node.js contributors and others
License: MIT and others
 Node.js ${nodeVersion}, from the npm package node-linux-${process.arch}; its licence and the
 licences of the libraries it includes are in usr/lib/swanpair/node/LICENSE.
`;
}

/**
 * Lays out the installed file tree in `root` (empty or missing), modes set explicitly.
 * @returns every path in it, relative, sorted
 */
export async function stageTree(
  root: string,
  opts: {
    version: string;
    agentDir: string;
    swanpairFile: string;
    node: NodeRuntime;
    /** The Debian packages it needs (names only), for images/install.sh. */
    depends: string[];
  },
): Promise<string[]> {
  const home = join(root, PREFIX.slice(1));
  const put = async (from: string, to: string, mode: number) => {
    await mkdir(dirname(to), { recursive: true });
    await copyFile(from, to);
    await chmod(to, mode);
  };
  const write = async (to: string, text: string, mode: number) => {
    await mkdir(dirname(to), { recursive: true });
    await writeFile(to, text);
    await chmod(to, mode);
  };
  // The bundles are not executable: their shebang would pick the system's node.
  await cp(opts.agentDir, join(home, "agent"), { recursive: true });
  await put(opts.swanpairFile, join(home, "swanpair.mjs"), 0o644);
  await put(opts.node.binary, join(home, "node/bin/node"), 0o755);
  await put(opts.node.license, join(home, "node/LICENSE"), 0o644);
  await write(join(home, "VERSION"), `${opts.version}\n`, 0o644);
  const names = opts.depends.map((d) => d.split(" ")[0]);
  await write(join(home, "share/debian-packages"), `${names.join("\n")}\n`, 0o644);
  for (const name of ["bin/swanpair-agent", "bin/swanpair", "libexec/charon-conf"])
    await put(join(IMAGES, "package", name), join(home, name), 0o755);
  for (const name of ["swanpair-agent", "swanpair"]) {
    await mkdir(join(root, "usr/bin"), { recursive: true });
    await symlink(`../lib/swanpair/bin/${name}`, join(root, "usr/bin", name));
  }
  for (const unit of await readdir(join(IMAGES, "systemd")))
    await put(join(IMAGES, "systemd", unit), join(root, "usr/lib/systemd/system", unit), 0o644);
  const doc = join(root, "usr/share/doc/swanpair");
  await cp(join(IMAGES, "package/examples"), join(doc, "examples"), { recursive: true });
  await write(join(doc, "copyright"), copyright(opts.node.version), 0o644);
  // Shipped empty: the operator's config and keys go here, root only.
  await mkdir(join(root, "etc/swanpair"), { recursive: true });

  const entries = await walk(root);
  for (const rel of entries) {
    const path = join(root, rel);
    const s = await lstat(path);
    if (s.isDirectory()) await chmod(path, rel === "etc/swanpair" ? 0o700 : 0o755);
    else if (s.isFile()) await chmod(path, EXECUTABLES.has(rel) ? 0o755 : 0o644);
  }
  return entries;
}

/** Every path under `root`, relative, sorted by name (directories before their contents). */
async function walk(root: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (dir: string) => {
    for (const d of (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    )) {
      const path = join(dir, d.name);
      out.push(relative(root, path));
      if (d.isDirectory()) await visit(path);
    }
  };
  await visit(root);
  return out;
}

async function clampTimes(root: string, entries: string[], epoch: number) {
  // Deepest first, so setting a file's time does not leave its directory's changed.
  for (const rel of [...entries].reverse()) await lutimes(join(root, rel), epoch, epoch);
  await lutimes(root, epoch, epoch);
}

/** GNU tar, sorted, fixed mtime and owner, piped through gzip without a name or time. */
async function writeTarball(parent: string, top: string, out: string, epoch: number) {
  const tar = spawn(
    "tar",
    [
      ...["--create", "--format=gnu", "--sort=name", `--mtime=@${epoch}`],
      ...["--owner=0", "--group=0", "--numeric-owner", "--directory", parent, top],
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  tar.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<number | null>((done) => tar.on("close", done));
  await pipeline(tar.stdout, createGzip({ level: 6 }), createWriteStream(out));
  const code = await exited;
  if (code !== 0) throw new Error(`tar exited ${code}: ${stderr}`);
}

async function fileHash(path: string, algorithm: string): Promise<string> {
  const hash = createHash(algorithm);
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

/** Installed-Size as dpkg-gencontrol counts it: KiB per file, rounded up, 1 per other entry. */
async function installedSize(root: string, entries: string[]): Promise<number> {
  let kib = 0;
  for (const rel of entries) {
    const s = await lstat(join(root, rel));
    kib += s.isFile() ? Math.ceil(s.size / 1024) : 1;
  }
  return kib;
}

export async function debianDepends(packageList = PACKAGE_LIST): Promise<string[]> {
  const strongswan = (await readFile(packageList, "utf8")).split("\n").filter(Boolean);
  return [...strongswan, ...EXTRA_DEPENDS];
}

async function writeDeb(
  dataRoot: string,
  entries: string[],
  debRoot: string,
  out: string,
  opts: { version: string; debArch: string; epoch: number; packageList: string },
) {
  await cp(dataRoot, debRoot, {
    recursive: true,
    verbatimSymlinks: true,
    preserveTimestamps: true,
  });
  const control = join(debRoot, "DEBIAN");
  await mkdir(control, { mode: 0o755 });
  const depends = await debianDepends(opts.packageList);
  const maintainer =
    process.env.SWANPAIR_MAINTAINER ?? "swanpair maintainers <maintainers@swanpair.invalid>";
  await writeFile(
    join(control, "control"),
    [
      "Package: swanpair",
      `Version: ${opts.version}`,
      `Architecture: ${opts.debArch}`,
      `Maintainer: ${maintainer}`,
      `Installed-Size: ${await installedSize(dataRoot, entries)}`,
      `Depends: ${depends.join(", ")}`,
      // bgpd and zebra, for aws-vpn entries with routing bgp only (decision 0024).
      "Suggests: frr",
      "Section: net",
      "Priority: optional",
      "Description: highly available strongSwan VPN appliances on AWS",
      " swanpair-agent drives strongSwan's charon over VICI from a declarative config,",
      " supervises it and probes each tunnel; swanpair, the controller, moves each VPC's",
      " routes to the healthy appliance of its pair. Both run on the Node.js runtime",
      ` shipped in ${PREFIX}/node; the systemd units run charon under a unit of its own.`,
      "",
    ].join("\n"),
  );
  const sums: string[] = [];
  for (const rel of entries) {
    const s = await lstat(join(dataRoot, rel));
    if (s.isFile()) sums.push(`${await fileHash(join(dataRoot, rel), "md5")}  ${rel}`);
  }
  await writeFile(join(control, "md5sums"), `${sums.join("\n")}\n`);
  await chmod(join(control, "control"), 0o644);
  await chmod(join(control, "md5sums"), 0o644);
  for (const script of ["postinst", "prerm", "postrm"])
    await copyFile(join(IMAGES, "package/debian", script), join(control, script));
  for (const script of ["postinst", "prerm", "postrm"]) await chmod(join(control, script), 0o755);
  await clampTimes(debRoot, await walk(debRoot), opts.epoch);
  await run("dpkg-deb", ["--root-owner-group", "-Zgzip", "-z6", "--build", debRoot, out], {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(opts.epoch) },
    maxBuffer: 16 * 1024 * 1024,
  });
}

export interface Release {
  version: string;
  tarball: string;
  deb: string;
  sums: string;
  /** The tree both artifacts hold, relative to / (the tarball's top directory). */
  entries: string[];
}

/**
 * Builds both bundles and both artifacts into `outDir` (made afresh), working in a temporary
 * directory. The package list is written where scripts/build.ts writes it (dist/).
 * `version` (default: package.json's) names the artifacts and is what they install as
 * VERSION and the .deb's Version: tests make a second, newer release of the same code with it.
 * The programs' own `--version` stays package.json's, which the bundles carry.
 */
export async function buildRelease(
  opts: { outDir?: string; epoch?: number; packageList?: string; version?: string } = {},
): Promise<Release> {
  const outDir = opts.outDir ?? RELEASE_DIR;
  const epoch = opts.epoch ?? (await sourceDateEpoch());
  const version = opts.version ?? (await packageVersion());
  // It becomes a file name and a Debian Version field: Debian's characters only.
  if (!/^[0-9][A-Za-z0-9.+~-]*$/.test(version))
    throw new Error(`version ${JSON.stringify(version)} is not a Debian upstream version`);
  const names = releaseNames(version);
  const work = await mkdtemp("/tmp/swanpair-package-");
  try {
    const agentEntry = await buildAgent(join(work, "build/agent"));
    const swanpairFile = await buildSwanpair(join(work, "build/swanpair.mjs"));
    const packageList = await writePackageList(opts.packageList ?? PACKAGE_LIST);
    const node = await findNodeRuntime();
    const dataRoot = join(work, "tree", names.top);
    const entries = await stageTree(dataRoot, {
      version,
      agentDir: dirname(agentEntry),
      swanpairFile,
      node,
      depends: await debianDepends(packageList),
    });
    await clampTimes(dataRoot, entries, epoch);

    await rm(outDir, { recursive: true, force: true });
    await mkdir(outDir, { recursive: true });
    const tarball = join(outDir, names.tarball);
    const deb = join(outDir, names.deb);
    await writeTarball(dirname(dataRoot), names.top, tarball, epoch);
    await writeDeb(dataRoot, entries, join(work, "deb"), deb, {
      version,
      debArch: names.debArch,
      epoch,
      packageList,
    });
    const sums = join(outDir, "SHA256SUMS");
    const lines = [];
    for (const file of [deb, tarball].sort())
      lines.push(`${await fileHash(file, "sha256")}  ${basename(file)}`);
    await writeFile(sums, `${lines.join("\n")}\n`);
    return { version, tarball, deb, sums, entries };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const at = process.argv.indexOf("--out");
  const outDir = at >= 0 ? resolve(process.argv[at + 1] ?? "") : RELEASE_DIR;
  const release = await buildRelease({ outDir });
  process.stdout.write(`${[release.tarball, release.deb, release.sums].join("\n")}\n`);
}
