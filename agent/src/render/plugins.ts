import type { ResolvedConfig } from "../config/types.ts";

/**
 * The charon plugins the agent loads, and the Debian package that ships each one. The
 * bootstrap script and the preflight both read this table, so a plugin added here cannot
 * miss its package again (the openssl plugin once did: it is not in libstrongswan).
 */

/**
 * PSK-only IKEv2. OpenSSL brings ciphers, hashes, DH groups and the RNG for the modern and
 * AWS presets; nonce and kdf (prf+) are still needed beside it: charon fails without them.
 */
const CRYPTO_PLUGINS = ["nonce", "openssl", "kdf"];
const SERVICE_PLUGINS = ["socket-default", "vici"];

/**
 * Order matters: the first plugin that offers an IPsec backend wins, so kernel-libipsec must
 * come before kernel-netlink, which still provides routes and addresses.
 */
const KERNEL_PLUGINS: Record<ResolvedConfig["datapath"], string[]> = {
  libipsec: ["kernel-libipsec", "kernel-netlink"],
  kernel: ["kernel-netlink"],
};

/** Plugin name → the Debian 12 package with its `libstrongswan-<name>.so` (checked with dpkg -S). */
export const PLUGIN_PACKAGES: Readonly<Record<string, string>> = {
  aes: "libstrongswan",
  curve25519: "libstrongswan-extra-plugins",
  gcm: "libstrongswan-standard-plugins",
  hmac: "libstrongswan",
  kdf: "libstrongswan",
  "kernel-libipsec": "libcharon-extra-plugins",
  "kernel-netlink": "libstrongswan",
  nonce: "libstrongswan",
  openssl: "libstrongswan-standard-plugins",
  random: "libstrongswan",
  sha2: "libstrongswan",
  "socket-default": "strongswan-libcharon",
  vici: "strongswan-swanctl",
};

/** The programs the agent runs, and their packages. */
export const PROGRAM_PACKAGES: Readonly<Record<string, string>> = {
  "charon-systemd": "charon-systemd",
  swanctl: "strongswan-swanctl",
};

export const DATAPATHS = Object.keys(KERNEL_PLUGINS) as ResolvedConfig["datapath"][];

/** The plugins charon loads for `datapath`, in load order. */
export function pluginsFor(datapath: ResolvedConfig["datapath"]): string[] {
  return [...CRYPTO_PLUGINS, ...KERNEL_PLUGINS[datapath], ...SERVICE_PLUGINS];
}

/** The Debian package that ships `plugin`, or undefined for a plugin outside the table. */
export function packageOf(plugin: string): string | undefined {
  return Object.hasOwn(PLUGIN_PACKAGES, plugin) ? PLUGIN_PACKAGES[plugin] : undefined;
}

/** Every Debian package that charon needs for `plugins`, sorted and without repeats. */
export function debianPackagesFor(plugins: readonly string[]): string[] {
  const packages = new Set(Object.values(PROGRAM_PACKAGES));
  for (const plugin of plugins) {
    const pkg = packageOf(plugin);
    if (pkg === undefined) throw new Error(`no Debian package is known for plugin "${plugin}"`);
    packages.add(pkg);
  }
  return [...packages].sort();
}
