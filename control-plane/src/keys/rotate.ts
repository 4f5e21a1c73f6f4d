import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { OPERATOR_OU } from "../../../common/agent-api/roles.ts";
import type { ReloadResult } from "../../../common/agent-api/status.ts";
import { errnoText } from "../../../common/regular-file.ts";
import type { ConfigIssue } from "../../../common/yaml-config.ts";
import type { Appliance, Fleet } from "../fleet/types.ts";
import { type AgentAnswer, askAgents } from "../tunnels/ask-agents.ts";
import { GapWatch, type TunnelOutcome } from "./gaps.ts";
import { rotateKey } from "./store.ts";
import type { TunnelKey } from "./tunnel-keys.ts";

/**
 * `swanpair psk rotate`: new keys for a connection's tunnels in SSM, then every end's agent
 * reloads (and so fetches them), then the tunnels are watched until they are up on both ends,
 * with how long each was down. A reload changes only the key charon holds: live SAs stay up
 * (IKEv2 authenticates once, when an IKE_SA is set up), and the next IKE_SA uses the new key.
 */

export interface RotateRequest {
  connection: string;
  /** The connection's tunnels. */
  keys: readonly TunnelKey[];
  /** How long to wait for every tunnel to be up again once the agents reloaded. */
  timeoutMs: number;
  pollMs: number;
  statusTimeoutMs: number;
  /** A reload fetches the keys from SSM and applies them: give it longer than a status read. */
  reloadTimeoutMs: number;
  progress?: (line: string) => void;
  now?: () => number;
}

export interface AgentReload {
  appliance: string;
  /** refused: the agent kept its running config (issues say why); failed: it answered an error. */
  result: "reloaded" | "refused" | "unreachable" | "failed";
  generation?: number;
  error?: string;
  issues?: ConfigIssue[];
}

export interface RotateReport {
  connection: string;
  ok: boolean;
  /** The keys written, with the SSM version each now has. */
  keys: Array<{ parameter: string; appliances: [string, string]; version: number }>;
  /** Why writing stopped early; the keys written before it are in `keys`, and were reloaded. */
  writeError?: string;
  agents: AgentReload[];
  tunnels: TunnelOutcome[];
  timedOut: boolean;
}

export async function rotateConnection(fleet: Fleet, req: RotateRequest): Promise<RotateReport> {
  const now = req.now ?? Date.now;
  const progress = req.progress ?? (() => {});
  const ends = endsOf(fleet, req.keys);
  const watch = new GapWatch(req.keys);
  const look = async () => {
    const answers = await askAgents(fleet, ends, (api) => api.status(), req.statusTimeoutMs);
    const at = now();
    watch.observe(at, new Map(answers.map((a) => [a.appliance, a.ok ? a.value : null] as const)));
  };
  // A first look before anything changes: a tunnel down already is down from here on.
  await look();

  const keys: RotateReport["keys"] = [];
  let writeError: string | undefined;
  progress(`writing ${req.keys.length} new key(s) for ${req.connection}`);
  for (const key of req.keys) {
    try {
      keys.push({ ...key, version: await rotateKey(fleet, key) });
    } catch (error) {
      // The keys already written must still reach both their ends: reload all the same.
      writeError = (error as Error).message;
      break;
    }
  }

  progress(`reloading ${ends.map((a) => a.name).join(", ")}`);
  let reloading = true;
  const watching = (async () => {
    while (reloading) {
      await look();
      await sleep(req.pollMs);
    }
  })();
  const answers = await askAgents(fleet, ends, (api) => api.reload(), req.reloadTimeoutMs);
  reloading = false;
  await watching;
  const agents = answers.map(reloadOutcome);

  const live = new Set(agents.filter((a) => a.result === "reloaded").map((a) => a.appliance));
  const deadline = now() + req.timeoutMs;
  let timedOut = false;
  for (;;) {
    await look();
    const waiting = watch.waiting(live);
    if (waiting.length === 0) break;
    if (now() >= deadline) {
      timedOut = true;
      break;
    }
    progress(`waiting for ${waiting.map((k) => k.appliances.join("⇄")).join(", ")}`);
    await sleep(req.pollMs);
  }
  const tunnels = watch.outcomes();
  const ok =
    writeError === undefined &&
    agents.every((a) => a.result === "reloaded") &&
    tunnels.every((t) => t.state === "up");
  return {
    connection: req.connection,
    ok,
    keys: keys.map(({ parameter, appliances, version }) => ({ parameter, appliances, version })),
    ...(writeError !== undefined && { writeError }),
    agents,
    tunnels,
    timedOut,
  };
}

/** The appliances at either end of the tunnels, in fleet order. */
function endsOf(fleet: Fleet, keys: readonly TunnelKey[]): Appliance[] {
  const names = new Set(keys.flatMap((k) => k.appliances));
  return fleet.appliances.filter((a) => names.has(a.name));
}

function reloadOutcome(answer: AgentAnswer<ReloadResult>): AgentReload {
  const appliance = answer.appliance;
  if (!answer.ok) {
    const result = answer.code === "SWP_ERR_API_UNREACHABLE" ? "unreachable" : "failed";
    return { appliance, result, error: answer.error };
  }
  const r = answer.value;
  if (r.ok) return { appliance, result: "reloaded", generation: r.generation };
  return {
    appliance,
    result: "refused",
    ...(r.error !== undefined && { error: r.error }),
    ...(r.issues !== undefined && { issues: r.issues }),
  };
}

/**
 * Reloading takes an operator certificate over HTTPS (decision 0014). Checked here, before any
 * key is written: otherwise every reload would be refused after SSM already held the new keys.
 * Returns one line per certificate that may only read, or cannot be read at all.
 */
export async function readOnlyCertificates(fleet: Fleet, keys: readonly TunnelKey[]) {
  const certs = new Set(
    endsOf(fleet, keys).flatMap((a) => (a.agent.kind === "https" ? [a.agent.tls.cert] : [])),
  );
  const problems: string[] = [];
  for (const path of certs) {
    let subject: string;
    try {
      subject = new X509Certificate(await readFile(path)).subject;
    } catch (error) {
      problems.push(`${path}: ${errnoText(error)}`);
      continue;
    }
    if (!subject.split("\n").includes(`OU=${OPERATOR_OU}`)) {
      problems.push(
        `${path} may only read (no OU=${OPERATOR_OU} in its subject), and rotating reloads the agents; give an operator's certificate with --tls-cert FILE --tls-key FILE`,
      );
    }
  }
  return problems;
}
