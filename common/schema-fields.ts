import { isAbsolute } from "node:path";
import { z } from "zod";
import { CIDR_PATTERN, IP_PATTERN, ipProblem, parseCidr } from "./cidr.ts";
import { quote } from "./text.ts";

/**
 * The field types both config files share (agent and fleet). The loaders judge a value by code
 * (ipProblem, parseCidr) and say what they refused; `pattern` carries the same rule into the
 * generated JSON Schemas, so that an editor refuses what the loader refuses (host bits aside).
 * test/unit/schema-patterns.test.ts holds the two to each other.
 */

export const ip = z
  .string()
  .superRefine((v, ctx) => {
    const problem = ipProblem(v);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .meta({ pattern: IP_PATTERN });

export const cidr = z
  .string()
  .superRefine((v, ctx) => {
    const r = parseCidr(v);
    if (!r.ok) ctx.addIssue({ code: "custom", message: `invalid CIDR ${quote(v)}: ${r.reason}` });
  })
  .meta({ pattern: CIDR_PATTERN });

/** POSIX: absolute is a leading "/". */
export const absPath = z
  .string()
  .refine(isAbsolute, { error: (iss) => `${quote(String(iss.input))} is not an absolute path` })
  .meta({ pattern: "^/" });

/** swanctl section names: no dots (they separate sections), no spaces or quotes. */
export const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;

/** Agent, appliance, tunnel, path, VPC, pair and connection names alike. */
export const name = z.string().regex(NAME_PATTERN, {
  error: (iss) =>
    `${quote(String(iss.input))} must start with a letter and hold only letters, digits, '-' and '_' (1-63 chars)`,
});

/** An XFRM interface id (if_id): 0 and 0xffffffff mean "none" to the kernel. */
export const xfrmIfId = z
  .number()
  .int()
  .min(1)
  .max(0xfffffffe)
  .describe("XFRM interface id; required with the kernel datapath");
