import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import t from "tap";
import {
  DATAPATHS,
  debianPackagesFor,
  PLUGIN_PACKAGES,
  pluginsFor,
} from "../../agent/src/render/plugins.ts";
import { TEST_PLUGINS } from "../helpers/charon.ts";

/**
 * The plugin → package table against dpkg on this Debian machine: scripts/bootstrap.sh installs
 * what the table says, so a wrong entry would leave a fresh machine without a plugin.
 */

const PLUGIN_DIR = "/usr/lib/ipsec/plugins";

t.test("each plugin's .so file belongs to the package the table names", async (t) => {
  for (const [plugin, pkg] of Object.entries(PLUGIN_PACKAGES)) {
    const owner = execFileSync("dpkg", ["-S", `${PLUGIN_DIR}/libstrongswan-${plugin}.so`], {
      encoding: "utf8",
    }).split(":")[0];
    t.equal(owner, pkg, plugin);
  }
});

t.test("every plugin that is loaded anywhere has a package", async (t) => {
  const interop = await readFile(
    new URL("../fixtures/interop/strongswan.conf", import.meta.url),
    "utf8",
  );
  const loaded = [
    ...DATAPATHS.flatMap(pluginsFor),
    ...TEST_PLUGINS.split(" "),
    ...(interop.match(/^\s*load = (.+)$/m)?.[1]?.split(" ") ?? []),
  ];
  t.ok(loaded.length > 10);
  for (const plugin of loaded) t.ok(Object.hasOwn(PLUGIN_PACKAGES, plugin), plugin);
});

t.test("bootstrap's list covers the rendered plugins, with charon and swanctl", async (t) => {
  const runtime = debianPackagesFor(DATAPATHS.flatMap(pluginsFor));
  t.ok(runtime.includes("libstrongswan-standard-plugins"), "the openssl plugin's package");
  t.ok(runtime.includes("libcharon-extra-plugins"), "kernel-libipsec's package");
  t.ok(runtime.includes("charon-systemd"));
  t.ok(runtime.includes("strongswan-swanctl"));
  t.throws(() => debianPackagesFor(["no-such-plugin"]), /no Debian package is known/);
  const script = execFileSync(process.execPath, ["scripts/deb-packages.ts", "--runtime"], {
    encoding: "utf8",
  });
  t.same(script.trim().split("\n"), runtime, "scripts/deb-packages.ts prints that list");
});
