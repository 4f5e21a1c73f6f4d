import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { access, mkdir, open, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { errnoText } from "../../../common/regular-file.ts";
import type { ResolvedConfig } from "../config/types.ts";
import { packageOf, pluginsFor } from "../render/plugins.ts";

/**
 * What charon needs from this machine, checked before anything starts: a missing plugin
 * otherwise shows only as charon exiting with code 66 while the agent restarts it for ever.
 */

export interface CheckResult {
  /** Stable id such as "charon-binary" or "plugin:openssl". */
  id: string;
  status: "pass" | "fail" | "skip";
  message: string;
  /** The Debian package that provides what is missing, when one does. */
  package?: string;
}

const run = promisify(execFile);
const SBIN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";

const pass = (id: string, message: string): CheckResult => ({ id, status: "pass", message });
const fail = (id: string, message: string, pkg?: string): CheckResult => ({
  id,
  status: "fail",
  message,
  ...(pkg ? { package: pkg } : {}),
});
const skip = (id: string, message: string): CheckResult => ({ id, status: "skip", message });

/** Every check for `config`, in a stable order. Never throws: a broken check is a failure. */
export async function preflight(config: ResolvedConfig): Promise<CheckResult[]> {
  const child = config.charon.mode === "child";
  const external = "charon is started outside the agent (charon.mode external)";
  const plugins = pluginsFor(config.datapath);
  const checks: Promise<CheckResult | CheckResult[]>[] = [
    child ? checkBinary(config.charon.binary) : Promise.resolve(skip("charon-binary", external)),
    ...plugins.map((p) =>
      child
        ? checkPlugin(config.charon.pluginDir, p)
        : Promise.resolve(skip(`plugin:${p}`, external)),
    ),
    checkStateDir(config.stateDir),
    config.datapath === "libipsec" ? checkTun() : checkKernelIpsec(),
    ...awsChecks(config),
  ];
  return (await Promise.all(checks)).flat();
}

export function failures(results: readonly CheckResult[]): CheckResult[] {
  return results.filter((r) => r.status === "fail");
}

/** Programs aws-vpn entries need (decisions 0023, 0024): where Debian puts them, and its package. */
const AWS_PROGRAMS = [
  { name: "ip", paths: ["/usr/sbin/ip", "/bin/ip"], pkg: "iproute2", bgp: false },
  { name: "ping", paths: ["/usr/bin/ping", "/bin/ping"], pkg: "iputils-ping", bgp: false },
  { name: "zebra", paths: ["/usr/lib/frr/zebra"], pkg: "frr", bgp: true },
  { name: "bgpd", paths: ["/usr/lib/frr/bgpd"], pkg: "frr", bgp: true },
  { name: "vtysh", paths: ["/usr/bin/vtysh"], pkg: "frr", bgp: true },
] as const;

/** With aws-vpn entries: `ip` and `ping`; with BGP among them, FRR's daemons and vtysh too. */
function awsChecks(config: ResolvedConfig): Promise<CheckResult>[] {
  const aws = config.tunnels.filter((t) => t.aws);
  if (aws.length === 0) return [];
  const bgp = aws.some((t) => t.aws?.bgp);
  return AWS_PROGRAMS.filter((p) => bgp || !p.bgp).map(async ({ name, paths, pkg }) => {
    const results = await Promise.all(paths.map((p) => checkExecutable(`program:${name}`, p, pkg)));
    return results.find((r) => r.status === "pass") ?? (results[0] as CheckResult);
  });
}

async function checkBinary(binary: string): Promise<CheckResult> {
  return checkExecutable("charon-binary", binary, "charon-systemd");
}

async function checkExecutable(id: string, binary: string, pkg: string): Promise<CheckResult> {
  try {
    const s = await stat(binary);
    if (!s.isFile()) return fail(id, `${binary} is not a file`, pkg);
    await access(binary, constants.X_OK);
    return pass(id, `${binary} is executable`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT")
      return fail(id, `${binary} is not installed (Debian package ${pkg})`, pkg);
    return fail(id, `${binary} cannot be run: ${errnoText(err)}`, pkg);
  }
}

async function checkPlugin(dir: string, plugin: string): Promise<CheckResult> {
  const id = `plugin:${plugin}`;
  const file = join(dir, `libstrongswan-${plugin}.so`);
  const pkg = packageOf(plugin);
  try {
    await access(file, constants.R_OK);
    return pass(id, `strongSwan plugin "${plugin}" is installed (${file})`);
  } catch {
    const from = pkg ? ` (Debian package ${pkg})` : "";
    return fail(id, `strongSwan plugin "${plugin}" is not installed${from}: no ${file}`, pkg);
  }
}

/** charon's log, pid file, rendered files and sockets all live here. */
async function checkStateDir(dir: string): Promise<CheckResult> {
  const id = "state-dir";
  const probe = join(dir, `.preflight-${process.pid}`);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(probe, "", { mode: 0o600 });
    await rm(probe);
    return pass(id, `${dir} is writable`);
  } catch (err) {
    return fail(id, `state directory ${dir} is not writable: ${errnoText(err)}`);
  }
}

/** kernel-libipsec carries ESP in user space through a TUN device. */
async function checkTun(): Promise<CheckResult> {
  const id = "tun-device";
  const hint = "kernel-libipsec needs it; in a container add --device /dev/net/tun";
  try {
    const handle = await open("/dev/net/tun", constants.O_RDWR);
    await handle.close();
    return pass(id, "/dev/net/tun opens for reading and writing");
  } catch (err) {
    return fail(id, `/dev/net/tun cannot be opened (${errnoText(err)}): ${hint}`);
  }
}

/**
 * The kernel datapath needs ESP and XFRM interfaces in the kernel. Both are tried for real in
 * a throwaway network namespace, so nothing on the machine changes.
 */
async function checkKernelIpsec(): Promise<CheckResult[]> {
  const key = (bytes: number) => `0x${"ab".repeat(bytes)}`;
  const esp = "ip xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x100 mode tunnel";
  const tries = [
    {
      id: "kernel-xfrm-interface",
      argv: ["ip", "link", "add", "swp-preflight", "type", "xfrm", "dev", "lo", "if_id", "1"],
      what: "XFRM interfaces (CONFIG_XFRM_INTERFACE)",
    },
    {
      id: "kernel-esp",
      argv: [...esp.split(" "), "enc", "cbc(aes)", key(16), "auth", "hmac(sha256)", key(32)],
      what: "ESP SAs (CONFIG_INET_ESP, CONFIG_XFRM_USER, AES and SHA-256)",
    },
  ];
  return Promise.all(
    tries.map(async ({ id, argv, what }) => {
      try {
        await run("unshare", ["--net", ...argv], { env: { PATH: SBIN_PATH }, timeout: 5000 });
        return pass(id, `the kernel has ${what}`);
      } catch (err) {
        const e = err as NodeJS.ErrnoException & { stderr?: string };
        if (e.code === "ENOENT") return fail(id, "cannot test: unshare is missing", "util-linux");
        const said = e.stderr?.trim().split("\n").at(-1) || errnoText(err);
        return fail(
          id,
          `the kernel has no ${what}, which datapath kernel needs (${said}); use datapath libipsec`,
        );
      }
    }),
  );
}
