/**
 * Carries out one of the engine's writes against EC2. The side's fence tag goes first, on every
 * table of the side, so that a write cut short still names its decision and other controllers
 * honour it; then the drifted routes. A failure is reported, and the next tick
 * (level-triggered) sees what is left and writes it again.
 */

import type { WriteRoutes } from "../decide/types.ts";
import type { CallGuard, Ec2 } from "../ec2/client.ts";
import { writeFence } from "../ec2/fences.ts";
import { type WriteOutcome, writeRoutes } from "../ec2/route-writes.ts";

export interface ExecuteResult {
  action: WriteRoutes;
  outcomes: WriteOutcome[];
  error?: Error;
}

export async function executeWrite(
  ec2: Ec2,
  action: WriteRoutes,
  guard?: CallGuard,
): Promise<WriteOutcome[]> {
  const fence = {
    active: action.target,
    epoch: action.epoch,
    ...(action.term ? { term: action.term } : {}),
    at: new Date(action.decidedAt).toISOString(),
  };
  await writeFence(ec2, action.routeTables, action, fence, { guard });
  if (action.routes.length === 0) return [];
  // The engine computed the drift from this tick's read, so no precheck: each call counts.
  return writeRoutes(ec2, action.routes, action.eni, { precheck: false, guard });
}
