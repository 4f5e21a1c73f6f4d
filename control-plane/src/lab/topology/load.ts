import {
  type ConfigIssue,
  parseConfig,
  type Refused,
  readConfigFile,
} from "../../../../common/yaml-config.ts";
import type { LabPlan } from "../plan.ts";
import { allocateAddresses } from "./addresses.ts";
import { resolveLab } from "./resolve.ts";
import { labSchema } from "./schema.ts";
import { verifyLab } from "./verify.ts";

/**
 * A lab topology file to its LabPlan: YAML, shape (schema.ts), rules (verify.ts), addresses
 * (addresses.ts), plan (resolve.ts). Any error at any stage yields ok:false and no plan; issues
 * carry field paths and rule ids, and print with the fleet's formatLoadResult.
 */

export type LabLoadResult = { ok: true; plan: LabPlan; warnings: ConfigIssue[] } | Refused;

/** Throws SwpError SWP_ERR_CONFIG_READ when the file itself cannot be read. */
export async function loadLabFile(path: string): Promise<LabLoadResult> {
  const read = await readConfigFile(path);
  return read.ok ? loadLabText(read.text) : read;
}

export function loadLabText(text: string): LabLoadResult {
  const parsed = parseConfig(text, labSchema, "lab topology");
  if (!parsed.ok) return parsed;
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const sink = {
    error: (path: string, rule: string, message: string) => issues.push({ path, rule, message }),
    warn: (path: string, rule: string, message: string) => warnings.push({ path, rule, message }),
  };
  verifyLab(parsed.data, sink);
  // Addresses only of blocks and references that passed: a bad one would only repeat its issue.
  const addresses = issues.length === 0 ? allocateAddresses(parsed.data, sink) : undefined;
  if (addresses === undefined || issues.length > 0) return { ok: false, issues, warnings };
  return { ok: true, plan: resolveLab(parsed.data, addresses), warnings };
}
