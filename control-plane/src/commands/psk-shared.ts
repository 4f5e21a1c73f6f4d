import { EXIT, ExitError } from "../../../common/cli.ts";
import type { Fleet } from "../fleet/types.ts";
import { keyPrefix } from "../keys/tunnel-keys.ts";

/** What the `swanpair psk` verbs share. */

/** The fleet's key prefix, or exit 2: a prefix SSM cannot take is the fleet file's to fix. */
export function keyPrefixOrExit(fleet: Fleet): string {
  const p = keyPrefix(fleet);
  if (!p.ok) throw new ExitError(EXIT.usage, p.problem);
  return p.prefix;
}
