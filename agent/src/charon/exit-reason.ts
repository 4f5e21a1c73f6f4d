/**
 * Why charon exited, in one line, from what it wrote during its last run (its log file and
 * stderr). charon reports a failed start only there; its exit code (66 for most start
 * failures) says nothing more.
 */

/** "2026-12-01T20:44:19.123 00[LIB] " or "00[CFG] ": the time and thread/group prefix. */
const PREFIX = /^.*?\b\d{2}\[[A-Z]{3,4}\] /;
const TROUBLE = /fail|error|abort|invalid|unmet|cannot|unable|not found|denied|missing/i;
const MAX_LENGTH = 400;

/**
 * The first and the last troubled line (the cause often comes first, its consequence last),
 * or the last line when none looks troubled; null when charon wrote nothing.
 */
export function exitReason(output: string): string | null {
  const lines = output
    .split("\n")
    .map((l) => l.replace(PREFIX, "").trim())
    .filter((l) => l !== "");
  if (lines.length === 0) return null;
  const troubled = lines.filter((l) => TROUBLE.test(l));
  const picked = troubled.length > 0 ? [troubled[0], troubled.at(-1)] : [lines.at(-1)];
  const reason = [...new Set(picked)].join("; ");
  return reason.length > MAX_LENGTH ? `${reason.slice(0, MAX_LENGTH - 1)}…` : reason;
}
