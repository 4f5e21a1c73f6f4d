import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, dirname, join, resolve } from "node:path";
import { promisify } from "node:util";
import t, { type Test } from "tap";
import type { AgentStatus } from "../../common/agent-api/status.ts";
import {
  CHARON_RESTART_GRACE_MS,
  charonRestarting,
} from "../../control-plane/src/controller/observation.ts";
import { AGENT_ENV, AGENT_NODE_FLAGS } from "../../scripts/build.ts";
import { buildRelease, packageVersion, type Release } from "../../scripts/package.ts";
import { waitFor } from "../helpers/agent-lab.ts";

/**
 * Issue 12's install tests, in containers from the fresh Debian 12 image with systemd as
 * PID 1 (images/fresh-debian/build.sh --systemd; docs/install.md, "The tests"):
 * - appliance a gets the tarball through images/install.sh, appliance b the .deb through
 *   `apt-get install ./swanpair_<v>_amd64.deb`: files, modes and units as decision 0022 says,
 *   `systemd-analyze verify` passes on the three units;
 * - both start swanpair-charon and swanpair-agent from their units with a config of one peer
 *   tunnel to the other; the tunnel comes up and a ping between the inside addresses passes;
 * - a is upgraded in place with a second, newer tarball while the tunnel is up (and b with the
 *   newer .deb): the config is kept, the IKE and CHILD SAs keep their unique ids, the agent is
 *   restarted and charon is not; running the installer again with the same tarball changes
 *   nothing;
 * - `install.sh --uninstall` leaves a's file list and package set as they were before the
 *   install.
 * Containers on a Docker network have no NAT here (decision 0010), so apt in them reaches the
 * mirrors of the image's sources.list through an HTTP proxy this test runs on the network's
 * gateway, for those hosts only.
 */

// About 150 s on this machine (2 cores), 60 s of it b's idle agent (docs/install.md has the
// steps). About 25 s more when the image is built first (its tag is a hash of its inputs), and
// apt goes at the mirrors' pace: more than tap's 120 s is allowed.
t.setTimeout(300_000);

const ROOT = resolve(import.meta.dirname, "../..");
const LABEL = "swanpair.test=install";
const NETWORK = "swanpair-install";
// Outside Docker's address pool (198.19.248.0/21, scripts/dockerd.sh) and its bridge, inside
// the range decision 0010 gives Docker.
const SUBNET = "198.19.246.0/24";
const GATEWAY = "198.19.246.1";
const VICI = "unix:///run/swanpair-charon/charon.vici";

/**
 * systemd as PID 1 without --privileged (which fails on these machines), on a cgroup v1 host:
 * - SYS_ADMIN: systemd mounts /run, /run/lock and the cgroup hierarchies itself, and sets up
 *   the units' namespaces (ProtectSystem=, PrivateTmp=, ...). Without it: "Failed to mount
 *   tmpfs at /run: Operation not permitted", PID 1 exits.
 * - --cgroupns private: Docker's default on cgroup v1 is the host's cgroup namespace, where
 *   /proc/1/cgroup names /docker/<id> but the hierarchies mounted in the container are rooted
 *   at that directory: "Failed to attach 1 to compat systemd cgroup /docker/<id>/init.scope:
 *   No such file or directory", "Failed to allocate manager object", PID 1 exits.
 * - --tmpfs /sys/fs/cgroup: an empty directory instead of Docker's read-only hierarchies, so
 *   systemd mounts writable ones rooted at the container's own cgroup (the namespace's root):
 *   with Docker's, it boots too, but tracks processes on cgroup2 only and the units'
 *   DevicePolicy= is not enforced (the devices controller is read-only).
 * - NET_ADMIN and /dev/net/tun: charon's routes and kernel-libipsec's TUN device, and the
 *   inside addresses on lo (the kernel here has no dummy driver).
 * - SIGRTMIN+3 is what stops systemd; SIGTERM, Docker's default, makes PID 1 re-execute.
 */
const SYSTEMD_RUN_FLAGS = [
  ...["--cap-add", "SYS_ADMIN", "--cgroupns", "private", "--tmpfs", "/sys/fs/cgroup"],
  ...["--cap-add", "NET_ADMIN", "--device", "/dev/net/tun", "--stop-signal", "SIGRTMIN+3"],
];

interface Appliance {
  name: string;
  container: string;
  outside: string;
  inside: string;
  subnet: string;
}
const A: Appliance = {
  name: "a1",
  container: "swanpair-install-a",
  outside: "198.19.246.10",
  inside: "10.1.0.10",
  subnet: "10.1.0.0/16",
};
const B: Appliance = {
  name: "b1",
  container: "swanpair-install-b",
  outside: "198.19.246.20",
  inside: "10.2.0.20",
  subnet: "10.2.0.0/16",
};

/**
 * The file list of a container: every path on its root file system with its type and mode,
 * owner and link target, except where the system writes on its own, said place by place:
 * /proc, /sys, /dev and /run are other file systems (and -xdev skips them: they are pruned
 * only to say so); /tmp holds the installer's work directory and the units' PrivateTmp;
 * /var/log (the journal, apt's and dpkg's logs) and /var/cache (apt's downloads and caches,
 * debconf's database) grow with any package operation; /var/lib/apt/lists are apt's indexes,
 * which the installer fetches. Nothing else is left out.
 */
const EXCLUDED = ["/proc", "/sys", "/dev", "/run", "/tmp", "/var/log", "/var/cache"];
const FILE_LIST = `find / -xdev \\( ${[...EXCLUDED, "/var/lib/apt/lists"]
  .map((p) => `-path ${p}`)
  .join(" -o ")} \\) -prune -o -printf '%M %u:%g %p\\t%l\\n' | LC_ALL=C sort`;
const PACKAGES = `dpkg-query -W -f='\${db:Status-Status} \${Package}\\n' | awk '$1 == "installed" { print $2 }' | LC_ALL=C sort`;

const run = promisify(execFile);

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** A program; `input` goes to its stdin. Never throws for an exit code. */
function exec(file: string, args: string[], input?: string, timeoutMs = 300_000): Promise<Ran> {
  return new Promise((done, fail) => {
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", fail);
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code: code ?? 1, stdout, stderr });
    });
    child.stdin.end(input ?? "");
  });
}

const docker = (args: string[], input?: string) => exec("docker", args, input);

/** A shell script in a container; throws with its output unless it exits 0. */
async function sh(container: string, script: string, input?: string): Promise<string> {
  const r = await docker(["exec", "-i", container, "sh", "-ec", script], input);
  if (r.code !== 0) {
    const tail = `${r.stdout}${r.stderr}`.trim().split("\n").slice(-20).join("\n");
    throw new Error(`${container}: \`${script.split("\n")[0]}\` exited ${r.code}:\n${tail}`);
  }
  return r.stdout;
}

/** What this file made, found by its label: left by a killed run, or made by this one. */
async function removeAll() {
  const ids = (await docker(["ps", "-aq", "--filter", `label=${LABEL}`])).stdout.split("\n");
  if (ids.some(Boolean)) await docker(["rm", "-f", ...ids.filter(Boolean)]);
  const nets = (await docker(["network", "ls", "-q", "--filter", `label=${LABEL}`])).stdout;
  for (const id of nets.split("\n").filter(Boolean)) await docker(["network", "rm", id]);
}

/**
 * An HTTP forward proxy for apt: GET and HEAD of http:// URLs on `hosts` only, listening on
 * `address` (the Docker network's gateway, which only its containers reach).
 */
async function aptProxy(address: string, hosts: Set<string>) {
  const hop = ["connection", "keep-alive", "proxy-connection", "proxy-authorization", "upgrade"];
  let requests = 0;
  const server = createServer((req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? "");
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (!["GET", "HEAD"].includes(req.method ?? "") || url.protocol !== "http:") {
      res.writeHead(405).end();
      return;
    }
    if (!hosts.has(url.hostname)) {
      res.writeHead(403).end();
      return;
    }
    requests++;
    const headers = { ...req.headers };
    for (const h of hop) delete headers[h];
    const upstream = request(url, { method: req.method, headers }, (answer) => {
      const back = { ...answer.headers };
      for (const h of hop) delete back[h];
      res.writeHead(answer.statusCode ?? 502, back);
      answer.pipe(res);
    });
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    upstream.end();
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(0, address, ok);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    requests: () => requests,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

let proxy: Awaited<ReturnType<typeof aptProxy>> | undefined;
let dir = "";
t.teardown(async () => {
  await removeAll();
  await proxy?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

let image = "";
let one: Release;
let two: Release;
let beforeInstall = { files: "", packages: "" };

/** The agent's config for `me`, one peer tunnel to `peer` (docs/configuration.md). */
function agentConfig(me: Appliance, peer: Appliance): string {
  return `appliance:
  name: ${me.name}
  localAddress: ${me.outside}
datapath: libipsec
charon:
  mode: external
  vici: /run/swanpair-charon/charon.vici
stateDir: /var/lib/swanpair
api:
  socket: /run/swanpair/agent.sock
tunnels:
  - name: to-${peer.name}
    type: peer
    remoteAddress: ${peer.outside}
    psk: { file: /etc/swanpair/psk/to-${peer.name} }
    localSubnets: [${me.subnet}]
    remoteSubnets: [${peer.subnet}]
    probe: { target: ${peer.inside}, source: ${me.inside}, intervalMs: 200 }
`;
}

async function status(app: Appliance): Promise<AgentStatus | undefined> {
  const r = await docker(["exec", app.container, "swanpair-agent", "status", "--json"]);
  return r.code === 0 ? (JSON.parse(r.stdout) as AgentStatus) : undefined;
}

async function tunnelUp(app: Appliance, timeoutMs = 60_000) {
  await waitFor(
    `${app.name}'s tunnel up`,
    async () => (await status(app))?.tunnels[0]?.state === "up",
    timeoutMs,
    250,
  );
}

/** Every SA of charon's, as "IKE name #id STATE" and "CHILD name #id STATE" lines, sorted. */
async function sas(app: Appliance): Promise<string[]> {
  const out = await sh(app.container, `swanctl --list-sas --uri ${VICI} 2>/dev/null`);
  const lines: string[] = [];
  for (const line of out.split("\n")) {
    const ike = /^(\S+): #(\d+), (\w+), IKEv2/.exec(line);
    if (ike) lines.push(`IKE ${ike[1]} #${ike[2]} ${ike[3]}`);
    const child = /^\s+(\S+): #(\d+), reqid \d+, (\w+),/.exec(line);
    if (child) lines.push(`CHILD ${child[1]} #${child[2]} ${child[3]}`);
  }
  return lines.sort();
}

/**
 * Both machines' SAs once nothing is being negotiated (every IKE_SA ESTABLISHED, every
 * CHILD_SA INSTALLED) and two readings a second apart agree. Both ends initiate when their
 * agent starts: an IKE_SA_INIT sent before the far charon listened is retransmitted 4 s
 * later, then 7 s after that, and may make a second IKE_SA with its own probe CHILD_SA
 * well after the tunnel is up. The ids are compared once that is over.
 */
async function settledSas(): Promise<Record<string, string[]>> {
  const read = async () => ({ [A.name]: await sas(A), [B.name]: await sas(B) });
  const quiet = (now: Record<string, string[]>) =>
    Object.values(now)
      .flat()
      .every((l) => / (ESTABLISHED|INSTALLED)$/.test(l));
  let last = await read();
  return waitFor(
    "the SAs to settle",
    async () => {
      await new Promise((r) => setTimeout(r, 1000));
      const now = await read();
      const same = JSON.stringify(now) === JSON.stringify(last);
      last = now;
      return same && quiet(now) && now;
    },
    90_000,
  );
}

const mainPid = async (app: Appliance, unit: string) =>
  Number((await sh(app.container, `systemctl show -p MainPID --value ${unit}`)).trim());

async function ping(app: Appliance, to: Appliance): Promise<Ran> {
  const args = ["-c", "3", "-i", "0.2", "-W", "2", "-I", app.inside, to.inside];
  return docker(["exec", app.container, "ping", ...args]);
}

/** What an operator sees of a unit's journal, into the TAP output when a step failed. */
async function commentLogs(t: Test) {
  for (const app of [A, B]) {
    const r = await docker([
      ...["exec", app.container, "journalctl", "--no-pager", "-o", "short-monotonic"],
      ...["-n", "30", "-u", "swanpair-charon", "-u", "swanpair-agent"],
    ]);
    t.comment(`${app.name}'s journal:\n${r.stdout}${r.stderr}`);
  }
}

/** One step; the later ones are skipped once one failed, since each builds on the last. */
async function step(name: string, fn: (t: Test) => Promise<void>) {
  const skip = t.passing() ? false : "an earlier step failed";
  await t.test(name, { skip }, async (t) => {
    try {
      await fn(t);
    } catch (err) {
      await commentLogs(t);
      throw err;
    }
    if (!t.passing()) await commentLogs(t);
    t.comment(`done at ${elapsed()}`);
  });
}

const installer = (release: Release) =>
  `sh /root/artifacts/install.sh --artifact /root/artifacts/${basename(dirname(release.tarball))}/${basename(release.tarball)} --sums /root/artifacts/${basename(dirname(release.sums))}/SHA256SUMS`;

await step("the image, two releases, two machines booted by systemd", async (t) => {
  await removeAll();
  const built = await run("bash", [join(ROOT, "images/fresh-debian/build.sh"), "--systemd"], {
    maxBuffer: 1 << 24,
  });
  image = built.stdout.trim().split("\n").at(-1) ?? "";
  t.match(image, /^swanpair\/fresh-debian12-systemd:[0-9a-f]{16}$/, `image ${image}`);

  dir = await mkdtemp("/tmp/swp-install-");
  const version = await packageVersion();
  // The next patch version: newer for dpkg and for the installer's messages.
  const next = version.replace(/(\d+)$/, (n) => String(Number(n) + 1));
  one = await buildRelease({ outDir: join(dir, "one") });
  two = await buildRelease({ outDir: join(dir, "two"), version: next });
  t.not(one.version, two.version, `releases ${one.version} and ${two.version}`);

  const net = await docker([
    ...["network", "create", "--label", LABEL, "--subnet", SUBNET, "--gateway", GATEWAY],
    NETWORK,
  ]);
  t.equal(net.code, 0, `network ${NETWORK} ${SUBNET}: ${net.stderr.trim()}`);
  for (const app of [A, B]) {
    const r = await docker([
      ...["run", "-d", "--name", app.container, "--hostname", app.name, "--label", LABEL],
      ...["--network", NETWORK, "--ip", app.outside, ...SYSTEMD_RUN_FLAGS, image],
    ]);
    t.equal(r.code, 0, `${app.container} started: ${r.stderr.trim()}`);
  }
  for (const app of [A, B]) {
    // The manager's socket appears a moment after the container starts.
    const state = await waitFor(`${app.name}'s systemd to answer`, async () => {
      const r = await docker(["exec", app.container, "systemctl", "is-system-running", "--wait"]);
      return ["running", "degraded"].includes(r.stdout.trim()) && r.stdout.trim();
    });
    const failed = await docker(["exec", app.container, "systemctl", "--failed", "--no-legend"]);
    t.equal(state, "running", `${app.name}: systemd is PID 1 and running ${failed.stdout}`);
    t.equal((await sh(app.container, "cat /proc/1/comm")).trim(), "systemd", "PID 1 is systemd");
  }

  const sources = await sh(A.container, "cat /etc/apt/sources.list");
  const hosts = new Set(
    [...sources.matchAll(/^deb\s+http:\/\/([^/\s]+)/gm)].map((m) => m[1] ?? ""),
  );
  t.ok(hosts.size > 0, `apt's mirrors: ${[...hosts].join(", ")}`);
  proxy = await aptProxy(GATEWAY, hosts);
  for (const app of [A, B]) {
    await sh(
      app.container,
      `echo 'Acquire::http::Proxy "${proxy.url}";' >/etc/apt/apt.conf.d/80swanpair-test-proxy
       mkdir -p /root/artifacts`,
    );
    for (const release of [one, two]) {
      const r = await docker(["cp", dirname(release.tarball), `${app.container}:/root/artifacts/`]);
      t.equal(r.code, 0, `${release.version}'s artifacts copied into ${app.name} ${r.stderr}`);
    }
    const r = await docker([
      "cp",
      join(ROOT, "images/install.sh"),
      `${app.container}:/root/artifacts/`,
    ]);
    t.equal(r.code, 0, `install.sh copied into ${app.name}`);
  }
  beforeInstall = {
    files: await sh(A.container, FILE_LIST),
    packages: await sh(A.container, PACKAGES),
  };
  t.ok(beforeInstall.files.split("\n").length > 5000, "a's file list before the install");
});

await step("install: a from the tarball with install.sh, b from the .deb with apt", async (t) => {
  const [a, b] = await Promise.all([
    docker(["exec", A.container, "sh", "-c", installer(one)]),
    docker([
      ...["exec", "-w", `/root/artifacts/${basename(dirname(one.deb))}`, B.container],
      ...[
        "sh",
        "-ec",
        `apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ./${basename(one.deb)} >/dev/null`,
      ],
    ]),
  ]);
  t.equal(a.code, 0, `install.sh: ${a.stdout}${a.stderr}`);
  t.match(a.stdout, `installed swanpair ${one.version};`);
  t.equal(b.code, 0, `apt-get install ./${basename(one.deb)}: ${b.stderr}`);
  t.ok(proxy && proxy.requests() > 0, `apt went through the proxy (${proxy?.requests()} requests)`);
  t.equal(
    await sh(B.container, "dpkg-query -s swanpair | grep -E '^(Status|Version):'"),
    `Status: install ok installed\nVersion: ${one.version}\n`,
    "b: the package swanpair is installed",
  );
});

await step("files, modes and units as decision 0022 documents them", async (t) => {
  // The tree of the tarball as this host unpacks it, against what each machine has.
  const unpacked = join(dir, "unpacked");
  await run("mkdir", ["-p", unpacked]);
  await run("tar", ["-xzf", one.tarball, "-C", unpacked]);
  const top = join(unpacked, basename(one.tarball, ".tar.gz"));
  const stat = "xargs -d '\\n' stat -c '%A %U:%G %N'";
  const entries = `${one.entries.join("\n")}\n`;
  const expected = await exec("sh", ["-ec", `cd '${top}'; ${stat}`], entries);
  t.equal(expected.code, 0, `stat on this host's unpacked tarball ${expected.stderr}`);
  t.equal(expected.stdout.split("\n").length, one.entries.length + 1, "every entry");
  t.match(expected.stdout, /^drwx------ root:root 'etc\/swanpair'$/m, "/etc/swanpair 0700");
  t.match(
    expected.stdout,
    /^lrwxrwxrwx root:root 'usr\/bin\/swanpair-agent' -> '..\/lib\/swanpair\/bin\/swanpair-agent'$/m,
  );
  for (const app of [A, B]) {
    t.equal(
      await sh(app.container, `cd /; ${stat}`, entries),
      expected.stdout,
      `${app.name}: the tarball's ${one.entries.length} entries, same type, mode, owner and target`,
    );
    t.equal(
      (await sh(app.container, "cat /usr/lib/swanpair/VERSION")).trim(),
      one.version,
      `${app.name}: VERSION`,
    );
    t.equal(
      (await sh(app.container, "swanpair-agent --version")).trim(),
      one.version,
      `${app.name}: swanpair-agent runs on the shipped Node`,
    );
    const verify = await docker([
      ...["exec", app.container, "systemd-analyze", "verify"],
      ...["agent", "charon", "controller"].map(
        (u) => `/usr/lib/systemd/system/swanpair-${u}.service`,
      ),
    ]);
    t.equal(verify.code, 0, `${app.name}: systemd-analyze verify exits 0`);
    t.equal(verify.stderr + verify.stdout, "", `${app.name}: systemd-analyze verify says nothing`);
    t.equal(
      (await sh(app.container, "systemctl list-unit-files --no-legend 'swanpair*'"))
        .replace(/ +/g, " ")
        .trim(),
      [
        "swanpair-agent.service disabled enabled",
        "swanpair-charon.service disabled enabled",
        "swanpair-controller.service disabled enabled",
      ].join("\n"),
      `${app.name}: the three units, none enabled`,
    );
  }
  t.equal(
    await sh(
      A.container,
      "stat -c '%A %U:%G %n' /etc/sysctl.d/60-swanpair.conf /var/lib/swanpair-install",
    ),
    "-rw-r--r-- root:root /etc/sysctl.d/60-swanpair.conf\ndrwx------ root:root /var/lib/swanpair-install\n",
    "a: the sysctl file, and the installer's record (root only)",
  );
  t.match(
    await sh(A.container, "cat /etc/sysctl.d/60-swanpair.conf"),
    /^net\.ipv4\.ip_forward = 1$/m,
  );
});

await step("both start from their units and bring the tunnel up; ping passes", async (t) => {
  for (const [me, peer] of [
    [A, B],
    [B, A],
  ] as const) {
    await sh(
      me.container,
      `umask 077
       mkdir -p /etc/swanpair/psk
       cat >/etc/swanpair/agent.yaml
       echo install-test-pre-shared-key-0123456789 >/etc/swanpair/psk/to-${peer.name}
       ip addr add ${me.inside}/32 dev lo
       # Debian's charon (charon-systemd's strongswan.service): apt started it on b; install.sh
       # disabled it on a (docs/install.md).
       systemctl disable --now strongswan.service 2>/dev/null || true
       swanpair-agent validate --config /etc/swanpair/agent.yaml
       systemctl enable --now swanpair-charon swanpair-agent`,
      agentConfig(me, peer),
    );
    t.equal(
      await sh(me.container, "stat -c '%a' /etc/swanpair/agent.yaml /etc/swanpair/psk/to-*"),
      "600\n600\n",
      `${me.name}: config and key 0600`,
    );
  }
  await Promise.all([tunnelUp(A), tunnelUp(B)]);
  const seen = await status(A);
  t.equal(seen?.charon.mode, "external", "charon runs under its own unit");
  t.equal(seen?.tunnels[0]?.probe.state, "up", "the probe crosses the tunnel");
  for (const [from, to] of [
    [A, B],
    [B, A],
  ] as const) {
    const p = await ping(from, to);
    t.equal(p.code, 0, `ping ${from.inside} -> ${to.inside}: ${p.stdout}`);
    t.match(p.stdout, / 0% packet loss/);
  }
});

/** What an upgrade must keep or change on one machine. */
async function facts(app: Appliance) {
  const settled = await settledSas();
  const tunnel = (await status(app))?.tunnels[0];
  return {
    agent: await mainPid(app, "swanpair-agent"),
    charon: await mainPid(app, "swanpair-charon"),
    config: await sh(
      app.container,
      "cd /etc/swanpair && stat -c '%A %s %Y %n' . agent.yaml psk psk/* && sha256sum agent.yaml psk/*",
    ),
    sas: settled[app.name] ?? [],
    tunnel: { ike: tunnel?.ike?.uniqueId, child: tunnel?.child?.uniqueId },
  };
}

/** Runs an upgrade on `app` with the tunnel up and checks what it kept. */
async function upgraded(t: Test, app: Appliance, how: string, upgrade: () => Promise<Ran>) {
  const before = await facts(app);
  t.ok(
    before.sas.some((l) => l.startsWith("CHILD ") && l.endsWith(" INSTALLED")),
    `${app.name}: SAs before: ${before.sas.join("; ")}`,
  );
  const r = await upgrade();
  t.equal(r.code, 0, `${how}: ${r.stdout}${r.stderr}`);
  await waitFor(
    `${app.name}'s agent to answer again`,
    async () => (await status(app)) !== undefined,
    30_000,
    200,
  );
  await tunnelUp(app, 30_000);
  const after = await facts(app);
  t.not(
    after.agent,
    before.agent,
    `${app.name}: swanpair-agent restarted (pid ${before.agent} -> ${after.agent})`,
  );
  t.equal(after.charon, before.charon, `${app.name}: swanpair-charon not (pid ${after.charon})`);
  t.equal(after.config, before.config, `${app.name}: /etc/swanpair unchanged`);
  t.same(after.sas, before.sas, `${app.name}: every IKE_SA and CHILD_SA kept its unique id`);
  t.same(
    after.tunnel,
    before.tunnel,
    `${app.name}: the agent reports the same SAs (${JSON.stringify(after.tunnel)})`,
  );
  t.equal(
    (await sh(app.container, "cat /usr/lib/swanpair/VERSION")).trim(),
    two.version,
    `${app.name}: VERSION ${two.version}`,
  );
  const p = await ping(app, app === A ? B : A);
  t.equal(p.code, 0, `${app.name}: ping still passes`);
  return r;
}

await step("upgrade in place with the tunnel up: a with install.sh, b with the .deb", async (t) => {
  const a = await upgraded(t, A, "install.sh, newer tarball", () =>
    docker(["exec", A.container, "sh", "-c", installer(two)]),
  );
  t.match(a.stdout, `upgraded swanpair ${one.version} to ${two.version}`);
  // The .deb's postinst restarts the agent and the controller, never charon (decision 0022).
  await upgraded(t, B, "apt-get install, newer .deb", () =>
    docker([
      ...["exec", "-w", `/root/artifacts/${basename(dirname(two.deb))}`, B.container],
      ...[
        "sh",
        "-c",
        `DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ./${basename(two.deb)} >/dev/null`,
      ],
    ]),
  );
});

await step("the installer again with the same tarball changes nothing", async (t) => {
  const before = await facts(A);
  const files = await sh(A.container, FILE_LIST);
  const r = await docker(["exec", A.container, "sh", "-c", installer(two)]);
  t.equal(r.code, 0, `install.sh again: ${r.stderr}`);
  t.match(r.stdout, `swanpair ${two.version} is installed already: nothing changed`);
  t.same(await facts(A), before, "same agent and charon, same config, same SAs");
  t.equal(await sh(A.container, FILE_LIST), files, "not a file changed, added or removed");
});

await step("systemd-analyze security: exposure of the three units", async (t) => {
  for (const unit of ["swanpair-agent", "swanpair-charon", "swanpair-controller"]) {
    const r = await docker(["exec", A.container, "systemd-analyze", "security", `${unit}.service`]);
    const score = /Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout)?.[1];
    t.comment(`${unit}: systemd-analyze security ${score} (in the container, the loaded unit)`);
    t.ok(score !== undefined && Number(score) <= 3, `${unit}: exposure ${score} is at most 3`);
  }
});

/**
 * 49 tunnels more for b's config, as `npm run bench` measures an idle agent (bench/agent-memory.ts):
 * their own identities, not started, each probed every 100 ms from an address of its own
 * towards a1's side, where a blackhole route makes every probe a quick loss.
 */
const IDLE_TUNNELS = Array.from({ length: 49 }, (_, i) => i + 1);
const idleTunnels = IDLE_TUNNELS.map(
  (n) => `  - name: idle-${n}
    type: peer
    remoteAddress: ${A.outside}
    localId: b1.idle-${n}
    remoteId: a1.idle-${n}
    psk: { file: /etc/swanpair/psk/to-a1 }
    localSubnets: [10.202.${n}.0/24]
    remoteSubnets: [10.201.${n}.0/24]
    startAction: none
    probe: { target: 10.201.${n}.1, source: 10.202.${n}.1, intervalMs: 100 }
`,
).join("");

await step("b's installed agent with 50 tunnels: resident memory when idle", async (t) => {
  await sh(
    B.container,
    `for n in ${IDLE_TUNNELS.join(" ")}; do ip addr add 10.202.$n.1/32 dev lo; done
     ip route add blackhole 10.201.0.0/16
     cat >>/etc/swanpair/agent.yaml
     swanpair-agent validate --config /etc/swanpair/agent.yaml
     systemctl restart swanpair-agent`,
    idleTunnels,
  );
  const agent = await mainPid(B, "swanpair-agent");
  await waitFor(
    "b's agent to answer with 50 tunnels",
    async () => (await status(B))?.tunnels.length === 50,
    30_000,
    250,
  );
  await tunnelUp(B);
  // As the benchmark: 60 s after start, long enough for the old generation's first full GCs.
  await new Promise((r) => setTimeout(r, 60_000));
  const seen = await status(B);
  t.equal(seen?.tunnels.length, 50, "50 tunnels");
  t.equal(
    seen?.tunnels.filter((x) => x.probe.state === "down").length,
    49,
    "the 49 not started are probed, and their probes lost",
  );
  t.equal(await mainPid(B, "swanpair-agent"), agent, "the same agent all along");
  const cmdline = (await sh(B.container, `tr '\\0' ' ' </proc/${agent}/cmdline`)).trim();
  t.equal(
    cmdline,
    `/usr/lib/swanpair/node/bin/node ${AGENT_NODE_FLAGS.join(" ")} /usr/lib/swanpair/agent/swanpair-agent.mjs run --config /etc/swanpair/agent.yaml`,
    "the unit runs the bundle with the flags decision 0008 measured",
  );
  t.match(
    await sh(B.container, `tr '\\0' '\\n' </proc/${agent}/environ`),
    new RegExp(`^MALLOC_MMAP_THRESHOLD_=${AGENT_ENV.MALLOC_MMAP_THRESHOLD_}$`, "m"),
    "and glibc's threshold",
  );
  const vmRss = await sh(B.container, `grep VmRSS /proc/${agent}/status`);
  const mb = Number(/VmRSS:\s+(\d+) kB/.exec(vmRss)?.[1]) / 1024;
  t.comment(`b's agent, installed from the .deb, idle with 50 tunnels: ${mb.toFixed(1)} MB RSS`);
  t.ok(mb > 0 && mb <= 60, `${mb.toFixed(1)} MB RSS is at most 60 MB (issue 12)`);
});

await step(
  "b's charon killed: systemd starts it again, within the controller's grace",
  async (t) => {
    const before = await mainPid(B, "swanpair-charon");
    await sh(B.container, "systemctl kill --signal=SIGKILL swanpair-charon");
    const killedAt = Date.now();
    const gone = await waitFor(
      "b's agent to see its charon gone",
      async () => {
        const s = await status(B);
        return s?.charon.state === "restarting" ? s : undefined;
      },
      10_000,
      100,
    );
    t.ok(
      charonRestarting(gone, Date.now()),
      `the controller's grace applies: that charon had run ${gone.charon.lastExit?.ranMs} ms`,
    );
    await tunnelUp(B, 30_000);
    const upAfterMs = Date.now() - killedAt;
    t.not(await mainPid(B, "swanpair-charon"), before, "a new charon, started by systemd");
    t.equal((await ping(B, A)).code, 0, "traffic passes again");
    t.comment(
      `b's tunnel up again ${upAfterMs} ms after the kill (RestartSec=2s; the grace is ${CHARON_RESTART_GRACE_MS} ms)`,
    );
  },
);

await step("install.sh --uninstall leaves a as it was before the install", async (t) => {
  const r = await docker(["exec", A.container, "sh", "/root/artifacts/install.sh", "--uninstall"]);
  t.equal(r.code, 0, `install.sh --uninstall: ${r.stdout}${r.stderr}`);
  t.match(r.stdout, /removed the packages it had installed: .*charon-systemd/);
  t.equal(await sh(A.container, PACKAGES), beforeInstall.packages, "the same packages");
  const after = await sh(A.container, FILE_LIST);
  const was = new Set(beforeInstall.files.split("\n"));
  const is = new Set(after.split("\n"));
  t.same(
    {
      left: [...is].filter((l) => !was.has(l)),
      gone: [...was].filter((l) => !is.has(l)),
    },
    { left: [], gone: [] },
    `the same ${was.size - 1} files, with the same modes, owners and targets`,
  );
  t.equal(
    (await sh(A.container, "systemctl list-unit-files --no-legend 'swanpair*' || true")).trim(),
    "",
    "no swanpair unit",
  );
  t.comment(`the whole file: ${elapsed()}`);
});
