import type { AgentStatus, ReloadResult } from "../../../common/agent-api/status.ts";

/** What the API server needs from the daemon. */
export interface AgentControl {
  status(): AgentStatus;
  reload(): Promise<ReloadResult>;
  initiate(tunnel: string): Promise<void>;
  terminate(tunnel: string): Promise<void>;
  /** Prometheus exposition text. */
  metrics(): Promise<string>;
}
