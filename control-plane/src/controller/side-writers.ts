/**
 * One write pipeline per connection side: a side's write runs on its own, so a slow side
 * (EC2 calls that hang, a long in-place failover) delays no other side's detection or writes.
 * At most one write per side is in flight; the engine asks again on a later tick for whatever
 * is still wanted (level-triggered). Every write has a deadline and stops as soon as it is no
 * longer the side's decision: superseded by this controller, fenced by a newer tag on the
 * table, or no longer covered by a lease. A tick whose read began before a side's last write
 * ended saw that side half-written, so its write for that side waits for a fresh read.
 */

import { compareFence } from "../decide/fence.ts";
import { sideKey } from "../decide/sides.ts";
import type { WriteRoutes } from "../decide/types.ts";
import { CallCancelled, type CallGuard, type Ec2 } from "../ec2/client.ts";
import { readFences, sideFence } from "../ec2/fences.ts";
import { describeTables } from "../ec2/route-tables.ts";
import { RouteWriteError } from "../ec2/route-writes.ts";
import { type ExecuteResult, executeWrite } from "./execute.ts";

/** Longest a write may run; a write cut short is finished by a later tick's write. */
export const WRITE_DEADLINE_MS = 60_000;

export interface SideWritersOptions {
  ec2: Ec2;
  /** Why the action is no longer this controller's to write, or undefined while it is. */
  refusal(action: WriteRoutes): string | undefined;
  /** performance.now() time by which the write must end (a lease's end); none without leases. */
  deadline?(action: WriteRoutes): number | undefined;
  onDone(result: ExecuteResult): void;
}

export class SideWriters {
  readonly #opts: SideWritersOptions;
  readonly #running = new Map<string, Promise<void>>();
  /** Writes ended so far, and per side the count when its last one ended. */
  #ended = 0;
  readonly #endedAt = new Map<string, number>();

  constructor(opts: SideWritersOptions) {
    this.#opts = opts;
  }

  /** Taken before a tick reads EC2, and given back to start() with what the read decided. */
  mark(): number {
    return this.#ended;
  }

  /**
   * Starts the write unless its side is writing already, or its last write ended after
   * `readMark` (the read that asked for this one predates it); returns why not, if not.
   */
  start(action: WriteRoutes, readMark: number): "started" | "writing" | "stale read" {
    const key = sideKey(action.connection, action.pair);
    if (this.#running.has(key)) return "writing";
    if ((this.#endedAt.get(key) ?? 0) > readMark) return "stale read";
    const run = this.#run(action).finally(() => {
      this.#running.delete(key);
      this.#endedAt.set(key, ++this.#ended);
    });
    this.#running.set(key, run);
    return "started";
  }

  /** Resolves once every write in flight has ended. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running.values());
  }

  async #run(action: WriteRoutes): Promise<void> {
    const { ec2, onDone } = this.#opts;
    try {
      onDone({ action, outcomes: await executeWrite(ec2, action, this.#guard(action)) });
    } catch (error) {
      // Routes written before the failure still count: the next tick will not redo them.
      const outcomes = error instanceof RouteWriteError ? error.outcomes : [];
      const err = error instanceof Error ? error : new Error(String(error));
      onDone({ action, outcomes, error: err });
    }
  }

  #guard(action: WriteRoutes): CallGuard {
    const { ec2, refusal, deadline } = this.#opts;
    const until = performance.now() + WRITE_DEADLINE_MS;
    const check = () => {
      const why = refusal(action);
      if (why !== undefined) throw new CallCancelled("superseded", why);
    };
    return {
      lane: sideKey(action.connection, action.pair),
      deadline: () => Math.min(until, deadline?.(action) ?? until),
      check,
      // A retry may come long after the decision: read the side's fence on one of its tables
      // and stop if someone wrote a newer one.
      beforeRetry: async () => {
        check();
        const table = action.routeTables[0];
        if (table === undefined) return;
        const found = (await describeTables(ec2, [table])).get(table);
        const seen = sideFence(readFences(found?.Tags ?? []), action.connection, action.pair);
        const ours = {
          active: action.target,
          epoch: action.epoch,
          term: action.term,
          at: action.decidedAt,
        };
        if (seen && compareFence({ ...seen, at: Date.parse(seen.at) }, ours) > 0)
          throw new CallCancelled(
            "fenced",
            `${table} carries a newer decision (${seen.active}, epoch ${seen.epoch})`,
          );
      },
    };
  }
}
