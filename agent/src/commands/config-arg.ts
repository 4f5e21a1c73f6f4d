import { mustLoad } from "../../../common/cli.ts";
import { loadConfigFile } from "../config/load.ts";

/** The config, or exit 2 with its issues (runCli prints them, as JSON under --json). */
export async function loadOrExit(file: string) {
  const result = await loadConfigFile(file);
  mustLoad(file, result);
  return result.config;
}
