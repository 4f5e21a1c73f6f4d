import type { ApiClient } from "../../../common/agent-api/client.ts";
import { type ErrorCode, SwpError } from "../../../common/errors.ts";
import { agentClient } from "../agents.ts";
import type { Appliance, Fleet } from "../fleet/types.ts";

/**
 * The one place the fleet-wide commands talk to agents: every appliance asked at once, each
 * with its own deadline, and an agent that fails is an answer saying why, never a failure of
 * the whole command.
 */

export type AgentAnswer<T> =
  | { appliance: string; ok: true; value: T }
  | {
      appliance: string;
      ok: false;
      /** SWP_ERR_API_UNREACHABLE: no answer at all; SWP_ERR_API_REQUEST: it answered an error. */
      code: ErrorCode;
      error: string;
    };

/** Errors other than the API's (bugs) are thrown. */
export async function askAgent<T>(
  fleet: Fleet,
  appliance: Appliance,
  ask: (api: ApiClient) => Promise<T>,
  timeoutMs: number,
): Promise<AgentAnswer<T>> {
  const name = appliance.name;
  try {
    return {
      appliance: name,
      ok: true,
      value: await ask(agentClient(fleet, appliance, { timeoutMs })),
    };
  } catch (err) {
    if (!(err instanceof SwpError)) throw err;
    return { appliance: name, ok: false, code: err.code, error: failureText(appliance, err) };
  }
}

/** All at once; the answers in the order of `appliances`. */
export function askAgents<T>(
  fleet: Fleet,
  appliances: readonly Appliance[],
  ask: (api: ApiClient) => Promise<T>,
  timeoutMs: number,
): Promise<AgentAnswer<T>[]> {
  return Promise.all(appliances.map((a) => askAgent(fleet, a, ask, timeoutMs)));
}

export function reachable(answer: AgentAnswer<unknown>): boolean {
  return answer.ok || answer.code !== "SWP_ERR_API_UNREACHABLE";
}

/** A 403 names the certificate that may only read, and how to give one that may act. */
function failureText(a: Appliance, err: SwpError): string {
  const status = (err.details as { status?: number } | undefined)?.status;
  if (status !== 403 || a.agent.kind !== "https") return err.message;
  return `an operator certificate is needed: the agent at ${a.agent.url} refused to act for ${a.agent.tls.cert}, a read-only certificate (no OU=swanpair-operator in its subject); give an operator's with --tls-cert FILE --tls-key FILE`;
}
