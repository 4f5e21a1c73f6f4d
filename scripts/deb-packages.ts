// Prints the Debian packages strongSwan needs, one per line, for scripts/bootstrap.sh.
//   node scripts/deb-packages.ts            every plugin in the table (the tests load more)
//   node scripts/deb-packages.ts --runtime  only what the agent's rendered configs load
import {
  DATAPATHS,
  debianPackagesFor,
  PLUGIN_PACKAGES,
  pluginsFor,
} from "../agent/src/render/plugins.ts";

const runtime = process.argv.includes("--runtime");
const plugins = runtime ? DATAPATHS.flatMap(pluginsFor) : Object.keys(PLUGIN_PACKAGES);
process.stdout.write(`${debianPackagesFor(plugins).join("\n")}\n`);
