/**
 * What to send to charon to go from what it has to what is desired, as swanctl --load-all
 * does, but sending only what changed: a connection whose rendered section is identical to
 * the one this charon already holds is left alone, so its SAs stay up (hitless).
 */
export interface Fingerprints {
  /** connection name → its rendered section, as sent (sectionFingerprint) */
  conns: ReadonlyMap<string, string>;
  /** shared-secret id → its owners and data */
  secrets: ReadonlyMap<string, string>;
}

export interface Observed {
  /** get-conns: what charon holds now */
  conns: readonly string[];
  /** get-shared: secret ids charon holds now */
  secrets: readonly string[];
}

export interface ApplyPlan {
  loadSecrets: string[];
  loadConns: string[];
  unloadConns: string[];
  unloadSecrets: string[];
  unchanged: string[];
}

/**
 * @param applied what this agent loaded into the running charon (empty after charon restarts)
 */
export function planApply(
  desired: Fingerprints,
  observed: Observed,
  applied: Fingerprints,
): ApplyPlan {
  const held = new Set(observed.conns);
  const heldSecrets = new Set(observed.secrets);
  const loadConns: string[] = [];
  const unchanged: string[] = [];
  for (const [name, print] of desired.conns) {
    if (held.has(name) && applied.conns.get(name) === print) unchanged.push(name);
    else loadConns.push(name);
  }
  const loadSecrets = [...desired.secrets]
    .filter(([id, print]) => !heldSecrets.has(id) || applied.secrets.get(id) !== print)
    .map(([id]) => id);
  return {
    loadSecrets,
    loadConns,
    unloadConns: observed.conns.filter((name) => !desired.conns.has(name)),
    unloadSecrets: observed.secrets.filter((id) => !desired.secrets.has(id)),
    unchanged,
  };
}

export function isNoop(plan: ApplyPlan): boolean {
  return (
    plan.loadSecrets.length +
      plan.loadConns.length +
      plan.unloadConns.length +
      plan.unloadSecrets.length ===
    0
  );
}
