/** Requests by operation and outcome, for metrics and benchmarks (EC2 attempts, lease calls). */
export class CallCounter<Op extends string = string, Outcome extends string = string> {
  readonly #counts = new Map<Op, Map<Outcome, number>>();

  record(operation: Op, outcome: Outcome): void {
    let byOutcome = this.#counts.get(operation);
    if (!byOutcome) {
      byOutcome = new Map();
      this.#counts.set(operation, byOutcome);
    }
    byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1);
  }

  /** Requests of `operation` (all when omitted) that ended in `outcome` (any when omitted). */
  count(operation?: Op, outcome?: Outcome): number {
    let n = 0;
    for (const [op, byOutcome] of this.#counts) {
      if (operation !== undefined && op !== operation) continue;
      for (const [o, c] of byOutcome) if (outcome === undefined || o === outcome) n += c;
    }
    return n;
  }

  snapshot(): Partial<Record<Op, Partial<Record<Outcome, number>>>> {
    const out: Partial<Record<Op, Partial<Record<Outcome, number>>>> = {};
    for (const [op, byOutcome] of this.#counts)
      out[op] = Object.fromEntries(byOutcome) as Partial<Record<Outcome, number>>;
    return out;
  }

  reset(): void {
    this.#counts.clear();
  }
}
