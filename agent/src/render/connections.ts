import { PROBE_CHILD_PRIORITY } from "../../../common/agent-config/schema.ts";
import type { Secret } from "../../../common/secret.ts";
import { agentStartsMain } from "../carrier/start.ts";
import { probeChildName } from "../config/probe-child.ts";
import type { ResolvedAwsVpn, ResolvedConfig, ResolvedTunnel } from "../config/types.ts";
import type { ViciMessage } from "../vici/message.ts";

/**
 * A load-shared request before the PSK is revealed: the VICI client (or the swanctl.conf
 * renderer) is the only place that turns `data` into bytes.
 */
export interface SharedSecret {
  id: string;
  type: "IKE";
  owners: string[];
  /** Text stands for its UTF-8 bytes; see ResolvedTunnel.psk. */
  data: Secret<string | Uint8Array>;
}

/** The bytes charon gets for a key: text as UTF-8, bytes as they are. */
export function keyBytes(key: Secret<string | Uint8Array>): Buffer {
  const value = key.reveal();
  return typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value);
}

type StartAction = ResolvedTunnel["startAction"];

/**
 * What charon does when DPD declares the peer dead, and when the peer closes the CHILD_SA,
 * chosen so each tunnel returns to the state its start_action asked for: an always-on
 * tunnel is re-initiated, a trap tunnel is re-armed, a passive tunnel is dropped.
 */
const RECOVERY: Record<StartAction, { dpd: string; close: string }> = {
  start: { dpd: "restart", close: "start" },
  trap: { dpd: "trap", close: "trap" },
  none: { dpd: "clear", close: "none" },
};

function renderChild(
  tunnel: ResolvedTunnel,
  datapath: ResolvedConfig["datapath"],
  startedBy: "charon" | "agent" = "charon",
): ViciMessage {
  const recovery = RECOVERY[tunnel.startAction];
  const child: ViciMessage = {
    local_ts: [...tunnel.localSubnets],
    remote_ts: [...tunnel.remoteSubnets],
    esp_proposals: [...tunnel.espProposals],
    // The agent starts it (agentStartsMain); DPD and close still bring it back as charon would.
    start_action: startedBy === "agent" ? "none" : tunnel.startAction,
    dpd_action: recovery.dpd,
    close_action: recovery.close,
  };
  if (tunnel.priority !== undefined) child.priority = String(tunnel.priority);
  // libipsec has no XFRM interfaces; there charon routes through its TUN device instead.
  if (datapath === "kernel" && tunnel.ifId !== undefined) {
    child.if_id_in = String(tunnel.ifId);
    child.if_id_out = String(tunnel.ifId);
  }
  return child;
}

/**
 * The probe's own CHILD_SA, source/32 to target/32, so that a tunnel's probes cross that
 * tunnel even when another tunnel with the same selectors carries the traffic (a mesh towards
 * both members of a far pair): without it, the probe of the tunnel that does not carry would
 * go out through the one that does, and that tunnel could never be up. Ranked above the
 * carrying children: by specificity when they have no explicit priority, else explicitly.
 */
function renderProbeChild(tunnel: ResolvedTunnel, config: ResolvedConfig): ViciMessage | undefined {
  if (!tunnel.probe) return undefined;
  const { source, target } = tunnel.probe;
  const host = (address: string) => `${address}/${address.includes(":") ? 128 : 32}`;
  const child = renderChild(
    { ...tunnel, localSubnets: [host(source)], remoteSubnets: [host(target)] },
    config.datapath,
  );
  if (tunnel.priority !== undefined) child.priority = String(PROBE_CHILD_PRIORITY);
  return child;
}

/** The CHILD_SA that carries the tunnel's traffic, named after the tunnel. */
function renderMainChild(tunnel: ResolvedTunnel, config: ResolvedConfig): ViciMessage {
  const startedBy = agentStartsMain(tunnel, config.datapath) ? "agent" : "charon";
  return renderChild(tunnel, config.datapath, startedBy);
}

/** The load-conn message's common parts, around what the kind of tunnel adds (`extra`). */
function connectionMessage(
  tunnel: ResolvedTunnel,
  config: ResolvedConfig,
  version: 1 | 2,
  extra: ViciMessage,
  children: Record<string, ViciMessage>,
): ViciMessage {
  return {
    version: String(version),
    local_addrs: [config.appliance.localAddress],
    remote_addrs: [tunnel.remoteAddress],
    proposals: [...tunnel.ikeProposals],
    dpd_delay: `${tunnel.dpdDelayS}s`,
    ...extra,
    // Both ends have fixed addresses; MOBIKE would only move IKE to port 4500 early.
    mobike: "no",
    local: { auth: "psk", id: tunnel.localId },
    remote: { auth: "psk", id: tunnel.remoteId },
    children,
  };
}

function renderPeerConnection(tunnel: ResolvedTunnel, config: ResolvedConfig): ViciMessage {
  const probe = renderProbeChild(tunnel, config);
  return connectionMessage(
    tunnel,
    config,
    2,
    {},
    {
      [tunnel.name]: renderMainChild(tunnel, config),
      ...(probe ? { [probeChildName(tunnel.name)]: probe } : {}),
    },
  );
}

/**
 * AWS ends an SA when its lifetime L (phase 1 or 2) is up, so this side rekeys first. With
 * m = floor(L / 10): rekey_time = L - m (90 %), less a random part of up to m (rand_time),
 * so rekeying starts between 80 % and 90 % of L; the hard end is L itself (IKE_SA:
 * rekey_time + over_time = L; CHILD_SA: life_time = L), never beyond AWS's, and L is also the
 * lifetime IKEv1 proposes (charon proposes rekey_time + over_time, and life_time). E.g.
 * 3600 s: rekey 3240 s, rand 360 s, life 3600 s; 28800 s: rekey 25920 s, over = rand 2880 s.
 */
function awsRekey(lifetimeS: number): { rekey: string; margin: string; life: string } {
  const marginS = Math.floor(lifetimeS / 10);
  return { rekey: `${lifetimeS - marginS}s`, margin: `${marginS}s`, life: `${lifetimeS}s` };
}

/** IKEv1 (main mode) takes AWS's DPD timeout; IKEv2 detects a dead peer by retransmissions. */
function awsIkeSettings(aws: ResolvedAwsVpn): ViciMessage {
  const ike = awsRekey(aws.ikeLifetimeS);
  return {
    ...(aws.ikeVersion === 1 ? { aggressive: "no", dpd_timeout: `${aws.dpdTimeoutS}s` } : {}),
    rekey_time: ike.rekey,
    over_time: ike.margin,
    rand_time: ike.margin,
  };
}

/**
 * One AWS tunnel, route-based: a single CHILD_SA (AWS allows one SA pair per tunnel), in
 * tunnel mode, with the traffic selectors; its XFRM interface under the kernel datapath.
 */
function renderAwsConnection(
  tunnel: ResolvedTunnel,
  aws: ResolvedAwsVpn,
  config: ResolvedConfig,
): ViciMessage {
  const child = awsRekey(aws.childLifetimeS);
  return connectionMessage(tunnel, config, aws.ikeVersion, awsIkeSettings(aws), {
    [tunnel.name]: {
      ...renderMainChild(tunnel, config),
      mode: "tunnel",
      rekey_time: child.rekey,
      life_time: child.life,
      rand_time: child.margin,
    },
  });
}

function renderConnection(tunnel: ResolvedTunnel, config: ResolvedConfig): ViciMessage {
  return tunnel.aws
    ? renderAwsConnection(tunnel, tunnel.aws, config)
    : renderPeerConnection(tunnel, config);
}

/** One load-conn message per tunnel, keyed by tunnel name, in config order. */
export function renderConnections(config: ResolvedConfig): Record<string, ViciMessage> {
  const sections: Record<string, ViciMessage> = {};
  for (const tunnel of config.tunnels) sections[tunnel.name] = renderConnection(tunnel, config);
  return sections;
}

/**
 * One shared secret per distinct PSK, owned by every identity that uses it. charon picks a
 * PSK by the pair of identities, so a tunnel finds its key either way, and 500 tunnels that
 * share one key cost one load-shared instead of 500. The id follows the first tunnel that
 * uses the key, never the key itself.
 */
export function renderSecrets(config: ResolvedConfig): SharedSecret[] {
  const byKey = new Map<string, SharedSecret>();
  for (const tunnel of config.tunnels) {
    // By bytes: a text key and the same key in 0x/0s notation are one key to charon.
    const key = keyBytes(tunnel.psk).toString("hex");
    const secret = byKey.get(key);
    if (!secret) {
      byKey.set(key, {
        id: `psk-${tunnel.name}`,
        type: "IKE",
        owners: [...new Set([tunnel.localId, tunnel.remoteId])],
        data: tunnel.psk,
      });
      continue;
    }
    for (const id of [tunnel.localId, tunnel.remoteId]) {
      if (!secret.owners.includes(id)) secret.owners.push(id);
    }
  }
  return [...byKey.values()];
}
