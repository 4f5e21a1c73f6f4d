/**
 * What the agent's API answers (GET /v1/status, GET /v1/tunnels, POST /v1/reload,
 * PUT /v1/config): the agent builds these, its CLI and the control plane read them.
 */

export type TunnelState = "up" | "down" | "connecting";

/** What one running prober measured: its rise/fall state and its recent window. */
export interface ProbeReading {
  /** "unknown" until rise answers or fall losses in a row decide. */
  state: "up" | "down" | "unknown";
  /** Mean round-trip time of the recent window, null when nothing came back. */
  rttMs: number | null;
  /** Fraction 0..1 of the recent window that got no answer. */
  loss: number;
  sent: number;
  received: number;
}

export interface ProbeStatus extends Omit<ProbeReading, "state"> {
  /** "disabled" when the tunnel has no probe configured. */
  state: ProbeReading["state"] | "disabled";
}

/**
 * A path probe (config `paths`): this appliance's probe to the far VPC through its VPC's
 * routes. The controller reads `paths.find((p) => p.name === connection)?.state`.
 */
export interface PathStatus extends ProbeReading {
  /** The path's name; by convention the fleet connection it measures. */
  name: string;
  target: string;
  /** ISO time of the last state change (or of the path's (re)start). */
  since: string;
}

/**
 * The tunnels whose CHILD_SAs have the same selectors as one tunnel's (a carrier group,
 * decision 0017): the datapath sends their traffic into one of them.
 */
export interface CarrierGroupStatus {
  /** Every member, this tunnel included, by preference: ascending priority, then config order. */
  members: string[];
  /**
   * The member whose CHILD_SA the datapath sends the group's traffic into now (libipsec: the one
   * installed last; kernel: the lowest priority); null when none is installed, or (kernel) when
   * the installed members with the lowest priority are several.
   */
  carrier: string | null;
  /**
   * The member the agent makes carry (libipsec): the first whose probe is up; null when the
   * agent leaves the group alone (kernel datapath, no probe up).
   */
  wanted: string | null;
}

export interface TunnelStatus {
  name: string;
  state: TunnelState;
  remoteAddress: string;
  /** Why the state is what it is, in a few words: "child installed, probe up". */
  reason: string;
  /** initiator: this end made the IKE_SA (decision 0017 lets the other end start its CHILD_SA). */
  ike: { uniqueId: string; state: string; establishedS?: number; initiator: boolean } | null;
  child: { uniqueId: string; state: string; installedS?: number } | null;
  probe: ProbeStatus;
  /**
   * An aws-vpn tunnel with routing bgp: its session with AWS's inside address, as bgpd reports
   * it. The tunnel is up only when the session is Established and AWS's prefixes arrived.
   */
  bgp?: { neighbor: string; state: string; prefixesReceived: number };
  /** ISO time of the last state change. */
  since: string;
  /** Its carrier group; null when no other tunnel has its selectors. */
  group: CarrierGroupStatus | null;
}

export interface AgentStatus {
  appliance: string;
  datapath: "libipsec" | "kernel";
  charon: {
    mode: "child" | "external";
    /**
     * "restarting": it exited and a restart is due (external mode: its VICI connection
     * closed and the agent waits for the next charon); "crash-loop": it exited quickly
     * several times in a row (the agent keeps retrying with backoff).
     */
    state: "starting" | "running" | "restarting" | "crash-loop" | "stopped";
    pid: number | null;
    restarts: number;
    version: string | null;
    /**
     * The last exit of a charon the agent runs (child mode) or, in external mode, the last
     * time charon's VICI connection closed under the agent (code and signal null; `ranMs`
     * from charon's own start time); null when none exited yet.
     */
    lastExit: {
      code: number | null;
      signal: string | null;
      at: string;
      ranMs: number;
      /** charon's own words from its log or stderr, e.g. a plugin that failed to load. */
      reason: string | null;
    } | null;
  };
  config: {
    path: string;
    generation: number;
    loadedAt: string | null;
    lastError: string | null;
  };
  tunnels: TunnelStatus[];
  paths: PathStatus[];
}

export interface ReloadResult {
  ok: boolean;
  generation: number;
  loaded: string[];
  unloaded: string[];
  unchanged: string[];
  /** Validation problems when ok is false; the running state is left as it was. */
  issues?: { path: string; rule: string; message: string }[];
  error?: string;
}

/** PUT /v1/config's answer (200 when ok): the reload's, and one fact more. */
export interface ConfigPushResult extends ReloadResult {
  /** Whether the running config's text changed: false when the pushed text was it already. */
  configChanged: boolean;
}

/**
 * PUT /v1/config's answer when the config was refused (422): neither the file nor the running
 * config changed. At most 50 issues are listed; `omitted` counts the others.
 */
export interface ConfigRefusal {
  error: {
    code: "SWP_ERR_CONFIG_INVALID";
    message: string;
    issues: { path: string; rule: string; message: string }[];
    omitted?: number;
  };
}
