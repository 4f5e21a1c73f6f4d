/**
 * Carries out the engine's actions against EC2. The fence tag goes first, on every table of
 * the side, so that a write cut short still names its decision and other controllers honour
 * it; then the drifted routes. Sides are written concurrently; a failure is reported, and the
 * next tick (level-triggered) sees what is left and writes it again.
 */

import type { WriteRoutes } from "../decide/types.ts";
import type { Ec2 } from "../ec2/client.ts";
import { RouteWriteError, type WriteOutcome, writeFenceTags, writeRoutes } from "../ec2/routes.ts";

export interface ExecuteResult {
  action: WriteRoutes;
  outcomes: WriteOutcome[];
  error?: Error;
}

export async function executeWrite(ec2: Ec2, action: WriteRoutes): Promise<WriteOutcome[]> {
  await writeFenceTags(ec2, action.routeTables, {
    active: action.target,
    epoch: action.epoch,
    at: new Date(action.decidedAt).toISOString(),
  });
  if (action.routes.length === 0) return [];
  // The engine computed the drift from this tick's read, so no precheck: each call counts.
  return writeRoutes(ec2, action.routes, action.eni, { precheck: false });
}

export async function executeAll(ec2: Ec2, actions: WriteRoutes[]): Promise<ExecuteResult[]> {
  return Promise.all(
    actions.map(async (action) => {
      try {
        return { action, outcomes: await executeWrite(ec2, action) };
      } catch (error) {
        // Routes written before the failure still count: the next tick will not redo them.
        const outcomes = error instanceof RouteWriteError ? error.outcomes : [];
        return {
          action,
          outcomes,
          error: error instanceof Error ? error : new Error(String(error)),
        };
      }
    }),
  );
}
