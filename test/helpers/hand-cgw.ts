import { execFileSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { AwsVpnConnection, Phase } from "../../common/aws-vpn/model.ts";
import { Secret } from "../../common/secret.ts";
import { type Charon, startCharon } from "./charon.ts";
import { nsExec } from "./netns.ts";

/**
 * The hand-written customer gateway of test/fixtures/vgw-sim/customer: a plain strongSwan box
 * (kernel-libipsec) that knows nothing of swanpair, configured by hand for the VPN connection
 * handCgwConnection() describes, as an operator would. The fixture is written for the net 71
 * (198.18.71.1 ↔ AWS's 198.18.71.11 and .12); another net rewrites its third octet, so that
 * two gateways can stand for the two appliances of a pair (test/helpers/vgw-pair.ts).
 */

const FIXTURES = resolve(import.meta.dirname, "../fixtures/vgw-sim/customer");

/** The tunnels' pre-shared keys the fixture is loaded with. */
export const HAND_CGW_PSK = [
  "Tunnel1.psk_0123456789abcdef",
  "Tunnel2.psk_0123456789abcdef",
] as const;

const phase = (p: Partial<Phase> & Pick<Phase, "lifetimeS">): Phase => ({
  encryption: ["AES128"],
  integrity: ["SHA1"],
  dhGroups: [2],
  ...p,
});
const ALL_CIPHERS: Phase["encryption"] = ["AES128", "AES256", "AES128-GCM-16", "AES256-GCM-16"];
const ALL_HASHES: Phase["integrity"] = ["SHA1", "SHA2-256", "SHA2-384", "SHA2-512"];

/**
 * The VPN connection the fixture was written from, static routing: tunnel 1 as AWS's defaults
 * would have it (both versions, wide sets), tunnel 2 narrowed (IKEv1, AES128/SHA1/group 2).
 * Uplink 198.18.<net>.0/24 (the customer .1, AWS .11 and .12), inside /30s 169.254.<net>.0 and
 * .4, AWS's DPD (10 s, dead after 30 s).
 */
export function handCgwConnection(
  opts: { net?: number; vpnConnectionId?: string; staticRoutes?: string[] } = {},
): AwsVpnConnection {
  const net = opts.net ?? 71;
  const outside = (host: number) => `198.18.${net}.${host}`;
  const inside = (host: number) => `169.254.${net}.${host}`;
  return {
    vpnConnectionId: opts.vpnConnectionId ?? "vpn-0a1b2c3d4e5f60718",
    routing: "static",
    staticRoutes: opts.staticRoutes ?? ["10.98.0.0/24"],
    tunnels: [
      {
        outside: { customerGateway: outside(1), vpnGateway: outside(11) },
        inside: { cidr: `${inside(0)}/30`, customerGateway: inside(2), vpnGateway: inside(1) },
        psk: new Secret(HAND_CGW_PSK[0]),
        ikeVersions: ["ikev1", "ikev2"],
        phase1: phase({
          encryption: ALL_CIPHERS,
          integrity: ALL_HASHES,
          dhGroups: [2, 14, 19, 20],
          lifetimeS: 28_800,
        }),
        phase2: phase({
          encryption: ALL_CIPHERS,
          integrity: ALL_HASHES,
          dhGroups: [2, 5, 14, 19, 20],
          lifetimeS: 3600,
        }),
        dpd: { delayS: 10, timeoutS: 30 },
      },
      {
        outside: { customerGateway: outside(1), vpnGateway: outside(12) },
        inside: { cidr: `${inside(4)}/30`, customerGateway: inside(6), vpnGateway: inside(5) },
        psk: new Secret(HAND_CGW_PSK[1]),
        ikeVersions: ["ikev1"],
        phase1: phase({ lifetimeS: 28_800 }),
        phase2: phase({ lifetimeS: 3600 }),
        dpd: { delayS: 10, timeoutS: 30 },
      },
    ],
  };
}

export interface HandCgwSpec {
  /** The gateway's namespace: the caller's, it must exist (the simulator's uplink ends in it). */
  ns: string;
  /** A directory of the gateway's own: configs, VICI socket, charon's log. */
  dir: string;
  /** The connection's net, as given to handCgwConnection (default 71). */
  net?: number;
}

export interface HandCgw {
  ns: string;
  charon: Charon;
  /** The swanctl.conf loaded at start (the right keys). */
  swanctlConf: string;
  /** Writes the fixture's swanctl.conf with these keys (unquoted) as `as` in dir; its path. */
  writeSwanctlConf(psk: readonly [string, string], as: string): Promise<string>;
  /** swanctl against the gateway's charon; throws when it fails. */
  swanctl(...args: string[]): string;
  /** IKE_SA states by connection name, from `swanctl --list-sas`. */
  sas(): Map<string, string>;
  /** Initiates a child ("aws1", "aws2"...) and tells whether it came up (within about 8 s). */
  initiate(child: string): boolean;
  /** charon's log. */
  log(): Promise<string>;
  /** Stops charon (SIGTERM by default; SIGKILL: it dies without a word to AWS); safe twice. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Sets up the gateway in `ns` (its inside addresses, a routing rule) and starts charon with the
 * fixture, both tunnels loaded; the customer initiates (initiate("aws1"), initiate("aws2")).
 */
export async function startHandCgw(spec: HandCgwSpec): Promise<HandCgw> {
  const { ns, dir } = spec;
  const net = spec.net ?? 71;
  const viciSocket = join(dir, "charon.vici");
  /** A fixture with its placeholders filled and its addresses on `net`, written as `as`. */
  const fill = async (name: string, values: Record<string, string>, as = name) => {
    let text = await readFile(join(FIXTURES, name), "utf8");
    for (const [key, value] of Object.entries(values)) text = text.replaceAll(key, value);
    text = text.replaceAll("198.18.71.", `198.18.${net}.`);
    await writeFile(join(dir, as), text, { mode: 0o600 });
    return join(dir, as);
  };
  const writeSwanctlConf = (psk: readonly [string, string], as: string) =>
    fill("swanctl.conf", { "@PSK1@": `"${psk[0]}"`, "@PSK2@": `"${psk[1]}"` }, as);

  for (const tunnel of handCgwConnection({ net }).tunnels)
    nsExec(ns, "ip", ["addr", "add", `${tunnel.inside.customerGateway}/32`, "dev", "lo"]);
  // libipsec's 0/0 route (table 220) has a throw route for the first AWS endpoint only: both
  // children share one route. Without this rule, ESP to the second endpoint would be routed
  // into the TUN device again, a loop. Specific routes (the uplink, the LAN) come first.
  nsExec(ns, "ip", "rule add pref 100 lookup main suppress_prefixlength 0".split(" "));

  const confPath = await fill("strongswan.conf", { "@DIR@": dir });
  const swanctlConf = await writeSwanctlConf(HAND_CGW_PSK, "swanctl.conf");
  const charon = await startCharon({ ns, confPath, viciSocket });
  const swanctl = (...args: string[]) =>
    execFileSync("ip", ["netns", "exec", ns, "swanctl", ...args, "--uri", `unix://${viciSocket}`], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 15_000,
    });
  try {
    swanctl("--load-all", "--file", swanctlConf);
  } catch (err) {
    await charon.stop();
    throw err;
  }

  return {
    ns,
    charon,
    swanctlConf,
    writeSwanctlConf,
    swanctl,
    sas() {
      const sas = new Map<string, string>();
      for (const m of swanctl("--list-sas").matchAll(/^([\w-]+): #\d+, (\w+),/gm))
        sas.set(m[1] as string, m[2] as string);
      return sas;
    },
    initiate(child) {
      try {
        swanctl("--initiate", "--child", child, "--timeout", "8");
        return true;
      } catch {
        return false;
      }
    },
    log: () => readFile(join(dir, "charon.log"), "utf8").catch(() => ""),
    stop: (signal) => charon.stop(signal),
  };
}
