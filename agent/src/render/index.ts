import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../../common/atomic-write.ts";
import type { ResolvedConfig } from "../config/types.ts";
import type { ViciMessage } from "../vici/message.ts";
import { renderConnections, renderSecrets, type SharedSecret } from "./connections.ts";
import { renderStrongswanConf } from "./strongswan-conf.ts";
import { renderSwanctlConf } from "./swanctl-conf.ts";

export type { SharedSecret } from "./connections.ts";
export { sectionFingerprint } from "./fingerprint.ts";

export interface Rendered {
  swanctlConf: string;
  strongswanConf: string;
  connections: Record<string, ViciMessage>;
  secrets: SharedSecret[];
  /** True when swanctlConf has `<redacted>` in place of the keys. */
  redacted: boolean;
}

/** Everything the agent derives from a config, for the `render` command and for apply. */
export function renderAll(config: ResolvedConfig, options: { redactSecrets: boolean }): Rendered {
  const connections = renderConnections(config);
  const secrets = renderSecrets(config);
  return {
    swanctlConf: renderSwanctlConf(connections, secrets, options),
    strongswanConf: renderStrongswanConf(config),
    connections,
    secrets,
    redacted: options.redactSecrets,
  };
}

/** Writes swanctl.conf (0600: it holds the keys) and strongswan.conf, each atomically. */
export async function writeRendered(outDir: string, rendered: Rendered) {
  if (rendered.redacted)
    throw new Error("refusing to write a swanctl.conf whose secrets are redacted");
  await mkdir(outDir, { recursive: true });
  await writeFileAtomic(join(outDir, "swanctl.conf"), rendered.swanctlConf, 0o600);
  await writeFileAtomic(join(outDir, "strongswan.conf"), rendered.strongswanConf, 0o644);
}
