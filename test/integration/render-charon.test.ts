import { type ChildProcess, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { PRESETS } from "../../agent/src/config/proposals.ts";
import type { ResolvedConfig, ResolvedTunnel } from "../../agent/src/config/types.ts";
import { renderAll, writeRendered } from "../../agent/src/render/index.ts";
import { Secret } from "../../common/secret.ts";
import {
  createNetns,
  createPeerPair,
  deleteNetns,
  nsExec,
  nsSpawn,
  stopChild,
} from "../helpers/netns.ts";

/**
 * The rendered files are fed to the real charon-systemd and swanctl: charon must start from
 * the strongswan.conf alone, and swanctl --load-all must load every connection and secret.
 */

const CHARON = "/usr/sbin/charon-systemd";
const skip =
  process.getuid?.() !== 0 || !existsSync(CHARON) || !existsSync("/dev/net/tun")
    ? "needs root, charon-systemd and /dev/net/tun"
    : false;

function hasXfrm(): boolean {
  try {
    execFileSync("ip", ["xfrm", "state"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const PSK = '0sesame "quoted" #not-a-comment {braces} \\ tail ';

function tunnel(name: string, overrides: Partial<ResolvedTunnel>): ResolvedTunnel {
  return {
    name,
    type: "peer",
    remoteAddress: "192.0.2.2",
    localId: "left.swanpair.test",
    remoteId: "right.swanpair.test",
    psk: new Secret(PSK),
    localSubnets: ["10.1.0.0/24"],
    remoteSubnets: ["10.2.0.0/24"],
    ikeProposals: [...PRESETS.modern.ike],
    espProposals: [...PRESETS.modern.esp],
    startAction: "none",
    dpdDelayS: 10,
    ...overrides,
  };
}

function appliance(
  stateDir: string,
  datapath: ResolvedConfig["datapath"],
  localAddress: string,
  tunnels: ResolvedTunnel[],
): ResolvedConfig {
  return {
    appliance: { name: "vpn", localAddress },
    datapath,
    charon: {
      mode: "child",
      vici: join(stateDir, "charon.vici"),
      binary: CHARON,
      pluginDir: "/usr/lib/ipsec/plugins",
      startTimeoutMs: 10000,
    },
    stateDir,
    api: { socket: join(stateDir, "agent.sock") },
    log: { level: "info" },
    tunnels,
    paths: [],
  };
}

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const viciAnswers = (path: string) =>
  new Promise<true | undefined>((resolve) => {
    const socket = createConnection(path, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(undefined));
  });

function swanctl(vici: string, args: string[]): string {
  // swanctl --file also looks for x509/, rsa/, ... next to the file and complains on stderr.
  return execFileSync("swanctl", [...args, "--uri", `unix://${vici}`], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
}

interface Charon {
  dir: string;
  vici: string;
  log: () => Promise<string>;
}

/** Renders config into its own state dir, starts charon-systemd on it in ns, loads swanctl.conf. */
async function startCharon(
  t: Test,
  ns: string,
  build: (dir: string) => ResolvedConfig,
  editSwanctlConf: (text: string) => string = (text) => text,
): Promise<Charon> {
  const dir = await mkdtemp(join(tmpdir(), "swp-render-"));
  let child: ChildProcess | undefined;
  t.teardown(async () => {
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
  });
  const config = build(dir);
  await writeRendered(dir, renderAll(config, { redactSecrets: false }));
  const swanctlConf = join(dir, "swanctl.conf");
  await writeFile(swanctlConf, editSwanctlConf(await readFile(swanctlConf, "utf8")));

  let stderr = "";
  const charon = nsSpawn(ns, CHARON, [], {
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", STRONGSWAN_CONF: join(dir, "strongswan.conf") },
    stdio: ["ignore", "ignore", "pipe"],
  });
  child = charon;
  charon.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  const vici = config.charon.vici;
  await until("the VICI socket", 10000, async () => {
    if (charon.exitCode !== null) throw new Error(`charon exited ${charon.exitCode}: ${stderr}`);
    return viciAnswers(vici);
  });
  swanctl(vici, ["--load-all", "--file", swanctlConf]);
  return { dir, vici, log: () => readFile(join(dir, "charon.log"), "utf8") };
}

/** charon.log once charon has listed its plugins, and the plugin list as rendered. */
async function startupLog(charon: Charon): Promise<{ log: string; rendered: string }> {
  const log = await until("charon's plugin line", 5000, async () => {
    const text = await charon.log();
    return text.includes("loaded plugins:") ? text : undefined;
  });
  const conf = await readFile(join(charon.dir, "strongswan.conf"), "utf8");
  return { log, rendered: /^\s*load = (.*)$/m.exec(conf)?.[1] ?? "" };
}

t.test(
  "libipsec: charon starts from the rendered files and loads every connection",
  { skip },
  async (t) => {
    const ns = "swp-render-load";
    createNetns(ns);
    t.teardown(() => deleteNetns(ns));
    // With libipsec, charon routes each CHILD_SA (and trap) from an address of its own inside
    // the local subnet; without one, installing it fails.
    for (const addr of ["192.0.2.1/24", "10.1.0.1/32", "10.1.1.1/32"]) {
      nsExec(ns, "ip", ["addr", "add", addr, "dev", "lo"]);
    }

    const tunnels = [
      tunnel("alpha", { priority: 100, remoteId: "CN=right, O=swan pair" }),
      tunnel("beta", {
        startAction: "trap",
        remoteAddress: "192.0.2.3",
        localSubnets: ["10.1.1.0/24"],
      }),
      tunnel("gamma", {
        remoteAddress: "2001:db8::3",
        localId: "left@{braces}#hash",
        remoteSubnets: ["fd00:2::/64"],
      }),
    ];
    const charon = await startCharon(t, ns, (dir) =>
      appliance(dir, "libipsec", "192.0.2.1", tunnels),
    );

    const listed = swanctl(charon.vici, ["--list-conns"]);
    for (const name of ["alpha", "beta", "gamma"]) {
      t.match(listed, new RegExp(`^${name}: IKEv2`, "m"), `${name} loaded`);
    }
    t.match(listed, "id: CN=right, O=swan pair", "a DN with spaces and commas survives quoting");
    t.match(listed, "id: left@{braces}#hash", "braces and # survive quoting");
    t.match(listed, /^ {4}priority: 100$/m, "priority arrives");
    t.match(listed, /beta: TUNNEL, [^\n]*dpd action is trap/, "dpd_action arrives");
    t.match(swanctl(charon.vici, ["--list-pols"]), /^beta\/beta, TUNNEL/m, "trap policy installed");

    // The swanctl section of strongswan.conf points swanctl at this charon without --uri.
    const viaConf = execFileSync("swanctl", ["--list-conns"], {
      encoding: "utf8",
      env: { ...process.env, STRONGSWAN_CONF: join(charon.dir, "strongswan.conf") },
    });
    t.equal(viaConf, listed);

    const { log, rendered } = await startupLog(charon);
    t.match(log, `loaded plugins: charon-systemd ${rendered}\n`, "exactly the rendered plugins");
    t.match(log, "kernel-libipsec", "userspace ESP");
    t.match(log, "created TUN device: ipsec0", "TUN device for userspace ESP");
    // The three tunnels share one key, so charon holds it once, owned by every identity.
    const keys = log.split("\n").filter((l) => l.includes("loaded IKE shared key"));
    t.equal(keys.length, 1, "one shared key for three tunnels");
    t.match(keys[0], /with id 'ike-psk-alpha' for: .*'left@\{braces\}#hash'/, "owned by all");
    t.notMatch(log, /\b(error|failed)\b/i, "no errors while starting and loading");
  },
);

t.test("libipsec: every preset proposal negotiates and traffic passes", { skip }, async (t) => {
  // One initiator tunnel per proposal of both presets, so a plugin missing for any of them
  // fails its handshake; the responder accepts all of them on one connection.
  const ike = [...new Set([...PRESETS.modern.ike, ...PRESETS["aws-compatible"].ike])];
  const esp = [...new Set([...PRESETS.modern.esp, ...PRESETS["aws-compatible"].esp])];
  const count = Math.max(ike.length, esp.length);
  const indexes = [...Array(count).keys()];
  const left = {
    ns: "swp-render-l",
    outside: "192.0.2.1",
    inside: indexes.map((i) => `10.1.${i}.1/32`),
  };
  const right = {
    ns: "swp-render-r",
    outside: "192.0.2.2",
    inside: indexes.map((i) => `10.2.${i}.1/32`),
  };
  const pair = createPeerPair({ left, right, outsidePrefix: 24 });
  t.teardown(pair.cleanup);

  const initiator = await startCharon(t, left.ns, (dir) =>
    appliance(
      dir,
      "libipsec",
      left.outside,
      indexes.map((i) =>
        tunnel(`t${i}`, {
          localSubnets: [`10.1.${i}.0/24`],
          remoteSubnets: [`10.2.${i}.0/24`],
          ikeProposals: [ike[i % ike.length] as string],
          espProposals: [esp[i % esp.length] as string],
        }),
      ),
    ),
  );
  // The responder's key is written in base64, not by the renderer: if the renderer's hex
  // encoding were wrong on both sides, the two would still agree with each other.
  const base64 = `0s${Buffer.from(PSK, "utf8").toString("base64")}`;
  await startCharon(
    t,
    right.ns,
    (dir) =>
      appliance(dir, "libipsec", right.outside, [
        tunnel("any", {
          remoteAddress: left.outside,
          localId: "right.swanpair.test",
          remoteId: "left.swanpair.test",
          localSubnets: ["10.2.0.0/16"],
          remoteSubnets: ["10.1.0.0/16"],
          ikeProposals: ike,
          espProposals: esp,
        }),
      ]),
    (text) => {
      const edited = text.replace(/^(\s*secret = )0x[0-9a-f]+$/m, `$1${base64}`);
      if (edited === text) throw new Error("no secret line to replace");
      return edited;
    },
  );

  for (const i of indexes) {
    const proposal = `${ike[i % ike.length]} / ${esp[i % esp.length]}`;
    // Initiated one after another: parallel first contacts would replace each other.
    const out = swanctl(initiator.vici, ["--initiate", "--child", `t${i}`, "--timeout", "15"]);
    t.match(
      out,
      new RegExp(`CHILD_SA t${i}\\{\\d+\\} established[\\s\\S]*initiate completed successfully`),
      `handshake with ${proposal}`,
    );
    const ping = nsExec(left.ns, "ping", [
      "-c",
      "1",
      "-W",
      "3",
      "-I",
      `10.1.${i}.1`,
      `10.2.${i}.1`,
    ]);
    t.match(ping, "1 received", `traffic through t${i}`);
  }
  const routes = nsExec(left.ns, "ip", ["route", "show", "table", "220"]);
  for (const i of indexes)
    t.match(routes, `10.2.${i}.0/24 dev ipsec0`, `t${i} routed into the TUN device`);
  t.equal(nsExec(left.ns, "ip", ["xfrm", "state"]), "", "ESP stays in userspace: no XFRM state");
});

// Needs XFRM but not XFRM interfaces (which test kernels often lack): trap policies show
// that if_id_in/if_id_out reach the kernel. The rest of the kernel datapath is checked as text.
const kernelSkip = skip || (hasXfrm() ? false : "needs XFRM in the kernel");
t.test(
  "kernel: charon accepts the rendered kernel-datapath files",
  { skip: kernelSkip },
  async (t) => {
    const ns = "swp-render-kern";
    createNetns(ns);
    t.teardown(() => deleteNetns(ns));
    nsExec(ns, "ip", ["addr", "add", "192.0.2.1/24", "dev", "lo"]);
    const charon = await startCharon(t, ns, (dir) =>
      appliance(dir, "kernel", "192.0.2.1", [
        tunnel("alpha", { startAction: "trap", ifId: 42, priority: 7 }),
      ]),
    );
    t.match(swanctl(charon.vici, ["--list-conns"]), /^alpha: IKEv2/m, "alpha loaded");
    const { log, rendered } = await startupLog(charon);
    t.match(log, `loaded plugins: charon-systemd ${rendered}\n`, "exactly the rendered plugins");
    t.notMatch(log, /kernel-libipsec|TUN device/, "no userspace ESP");
    const policies = nsExec(ns, "ip", ["xfrm", "policy"]);
    t.match(
      policies,
      /src 10\.1\.0\.0\/24 dst 10\.2\.0\.0\/24[\s\S]*?if_id 0x2a/,
      "trap policy carries if_id 42",
    );
    t.match(policies, /priority 7 /, "fixed priority");
  },
);
