import type {
  AgentStatus,
  ConfigPushResult,
  ReloadResult,
} from "../../../common/agent-api/status.ts";

/** What the API server needs from the daemon. */
export interface AgentControl {
  status(): AgentStatus;
  reload(): Promise<ReloadResult>;
  /**
   * Validates `text` as the config file is validated; only a valid config is written to the
   * config file and applied, as a reload applies it.
   */
  putConfig(text: string): Promise<ConfigPushResult>;
  /** The text the running config was loaded from. */
  configText(): string;
  initiate(tunnel: string): Promise<void>;
  terminate(tunnel: string): Promise<void>;
  /** Prometheus exposition text. */
  metrics(): Promise<string>;
}
