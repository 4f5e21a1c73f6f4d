import { join } from "node:path";
import { SOCKET_PATH_MAX } from "../../../common/agent-api/limits.ts";
import {
  type ParsedConfig,
  type ParsedPath,
  type ParsedTunnel,
  PROBE_PORT,
} from "../../../common/agent-config/schema.ts";
import {
  type Cidr,
  cidrContains,
  cidrLast,
  cidrsOverlap,
  ipFamily,
  ipToBigInt,
  parseCidr,
  sameIp,
} from "../../../common/cidr.ts";
import {
  checkPrivateMode,
  checkTlsFiles,
  type Files,
  readable,
} from "../../../common/config-files.ts";
import type { Secret } from "../../../common/secret.ts";
import type { Parameters } from "../keys/parameters.ts";
import { checkPskText } from "../keys/psk-rules.ts";
import { checkAwsTunnels, resolveAwsVpn } from "./aws-vpn.ts";
import { probeChildName } from "./probe-child.ts";
import { resolveProposals } from "./proposals.ts";
import type {
  ConfigIssue,
  LoadResult,
  ResolvedConfig,
  ResolvedListen,
  ResolvedPath,
  ResolvedProbe,
  ResolvedTunnel,
} from "./types.ts";

/**
 * Semantic checks that span fields, tunnels or the keys and files the config names (PSKs, TLS),
 * on top of the zod output. Pure: the file system facts come in as FileFacts and the SSM
 * parameters as ParameterFacts, both read by load.ts.
 */

export { PSK_MIN_LENGTH } from "../keys/psk-rules.ts";

/** A key: text stands for its UTF-8 bytes, bytes were decoded from 0x/0s notation. */
type Psk = Secret<string | Uint8Array>;
/** Default probe timeout cap: a late answer past 1 s says the path is unhealthy anyway. */
export const PROBE_TIMEOUT_CAP_MS = 1000;

interface Sink {
  error(path: string, rule: string, message: string): void;
  warn(path: string, rule: string, message: string): void;
}

export function verifyConfig(
  parsed: ParsedConfig,
  files: Files,
  parameters: Parameters,
): LoadResult {
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const sink: Sink = {
    error: (path, rule, message) => issues.push({ path, rule, message }),
    warn: (path, rule, message) => warnings.push({ path, rule, message }),
  };
  const keys = { files, parameters };
  const tunnels = parsed.tunnels.map((t, i) => {
    if (t.type === "aws-vpn") return resolveAwsVpn(parsed, t, i, files, sink);
    const peer = resolveTunnel(parsed, t, i, keys, sink);
    return peer && [peer];
  });
  checkSsmSection(parsed, sink);
  checkUnique("tunnels", parsed.tunnels, "name", sink);
  const ifIds = parsed.tunnels.map((t) => ({ ifId: t.type === "peer" ? t.ifId : undefined }));
  checkUnique("tunnels", ifIds, "ifId", sink);
  const complete = tunnels.flatMap((resolved, index) => (resolved ? [{ index, resolved }] : []));
  checkAwsUnique(complete, "name", sink);
  checkAwsUnique(complete, "ifId", sink);
  checkAwsTunnels(complete, parsed.datapath, sink);
  checkProbeChildNames(parsed.tunnels, sink);
  const paths = parsed.paths.map((p, i) => resolvePath(parsed, p, i, sink));
  checkUnique("paths", parsed.paths, "name", sink);
  checkSharedRemotes(parsed.tunnels, sink);
  checkAmbiguousPeers(parsed, sink);
  const vici = parsed.charon.vici ?? join(parsed.stateDir, "charon.vici");
  checkSocketPath(parsed.charon.vici ? "charon.vici" : "stateDir", vici, sink);
  checkSocketPath("api.socket", parsed.api.socket, sink);
  const listen = parsed.api.listen && resolveListen(parsed.api.listen, files, sink);

  if (issues.length > 0 || complete.length !== tunnels.length) {
    return { ok: false, issues, warnings };
  }
  const config: ResolvedConfig = {
    appliance: parsed.appliance,
    datapath: parsed.datapath,
    charon: { ...parsed.charon, vici },
    stateDir: parsed.stateDir,
    api: { socket: parsed.api.socket, ...(listen && { listen }) },
    log: parsed.log,
    tunnels: complete.flatMap((c) => c.resolved),
    paths,
  };
  return { ok: true, config, warnings };
}

/** Returns the resolved tunnel, or undefined when the PSK could not be accepted. */
function resolveTunnel(
  parsed: ParsedConfig,
  t: ParsedTunnel,
  index: number,
  keys: { files: Files; parameters: Parameters },
  sink: Sink,
): ResolvedTunnel | undefined {
  const at = `tunnels[${index}]`;
  const { appliance } = parsed;
  const local = t.localSubnets.map(mustCidr);
  const remote = t.remoteSubnets.map(mustCidr);

  if (parsed.datapath === "kernel" && t.ifId === undefined) {
    sink.error(`${at}.ifId`, "required", "is required when datapath is kernel (XFRM interface id)");
  }
  const own = (["localAddress", "publicAddress"] as const).find((f) => {
    const address = appliance[f];
    return address !== undefined && sameIp(address, t.remoteAddress);
  });
  if (own) {
    sink.error(
      `${at}.remoteAddress`,
      "self-address",
      `${t.remoteAddress} is this appliance's own ${own}; a tunnel needs a remote peer`,
    );
  }
  if (ipFamily(t.remoteAddress) !== ipFamily(appliance.localAddress)) {
    sink.error(
      `${at}.remoteAddress`,
      "family",
      `${t.remoteAddress} is IPv${ipFamily(t.remoteAddress)} but appliance.localAddress is IPv${ipFamily(appliance.localAddress)}; IKE runs over one family`,
    );
  }
  checkSubnets(at, local, remote, sink);
  const probe = t.probe && resolveProbe(`${at}.probe`, t.probe, local, remote, sink);

  const proposals = resolveProposals(t.crypto);
  for (const p of proposals.problems) sink.error(`${at}.crypto.${p.field}`, p.rule, p.message);

  const psk = resolvePsk(parsed, `${at}.psk`, t.psk, keys, sink);
  if (psk === undefined) return undefined;
  return {
    name: t.name,
    type: t.type,
    remoteAddress: t.remoteAddress,
    ...identities(parsed, t),
    psk,
    localSubnets: local.map((c) => c.text),
    remoteSubnets: remote.map((c) => c.text),
    ...(probe && { probe }),
    ikeProposals: proposals.ike,
    espProposals: proposals.esp,
    startAction: t.startAction,
    dpdDelayS: t.dpdDelayS,
    ...(t.priority !== undefined && { priority: t.priority }),
    ...(t.ifId !== undefined && { ifId: t.ifId }),
  };
}

function checkSubnets(at: string, local: Cidr[], remote: Cidr[], sink: Sink): void {
  remote.forEach((r, k) => {
    const j = local.findIndex((l) => cidrsOverlap(l, r));
    const l = local[j];
    if (l) {
      sink.error(
        `${at}.remoteSubnets[${k}]`,
        "overlap",
        `${r.text} overlaps localSubnets[${j}] ${l.text}; traffic between them cannot be routed through the tunnel`,
      );
    }
  });
  // Traffic selectors pair only within one family; with no common family no SA can carry anything.
  if (!local.some((l) => remote.some((r) => r.family === l.family))) {
    sink.error(
      `${at}.remoteSubnets`,
      "family",
      "no subnet shares an address family with localSubnets, so no traffic can match",
    );
  }
}

function resolveProbe(
  at: string,
  probe: NonNullable<ParsedTunnel["probe"]>,
  local: Cidr[],
  remote: Cidr[],
  sink: Sink,
): ResolvedProbe {
  for (const [field, ip, subnets, list] of [
    ["source", probe.source, local, "localSubnets"],
    ["target", probe.target, remote, "remoteSubnets"],
  ] as const) {
    if (!subnets.some((c) => cidrContains(c, ip))) {
      sink.error(
        `${at}.${field}`,
        "probe-subnet",
        `${ip} is not inside ${list}; probes must travel through the tunnel`,
      );
    }
  }
  return { ...probe, timeoutMs: probeTimeout(at, probe, sink) };
}

/** The timeout of a tunnel or path probe: the default, or the given one if it fits. */
function probeTimeout(
  at: string,
  probe: { intervalMs: number; timeoutMs?: number | undefined },
  sink: Sink,
): number {
  // Probes must not overlap, or a late answer would count toward the next probe.
  const timeoutMs = probe.timeoutMs ?? Math.min(probe.intervalMs, PROBE_TIMEOUT_CAP_MS);
  if (timeoutMs > probe.intervalMs) {
    sink.error(
      `${at}.timeoutMs`,
      "probe-timeout",
      `${timeoutMs} ms is longer than intervalMs (${probe.intervalMs} ms)`,
    );
  }
  return timeoutMs;
}

/**
 * A path probe must leave this appliance for the far VPC: a target that is one of our own
 * addresses, or on our side of a tunnel, would measure nothing about the routes' target.
 */
function resolvePath(parsed: ParsedConfig, p: ParsedPath, index: number, sink: Sink): ResolvedPath {
  const at = `paths[${index}]`;
  const { appliance } = parsed;
  const own: [string, string | undefined][] = [
    ["appliance.localAddress", appliance.localAddress],
    ["appliance.publicAddress", appliance.publicAddress],
    [`${at}.source`, p.source],
    ...parsed.tunnels.map((t, i): [string, string | undefined] => [
      `tunnels[${i}].probe.source`,
      t.type === "peer" ? t.probe?.source : undefined,
    ]),
  ];
  const self = own.find(([, address]) => address !== undefined && sameIp(address, p.target));
  if (self) {
    sink.error(
      `${at}.target`,
      "self-address",
      `${p.target} is this appliance's own address (${self[0]}); a path probe must reach the far VPC`,
    );
  } else {
    const near = parsed.tunnels
      .flatMap((t, i) =>
        t.type === "peer" ? t.localSubnets.map((text, k) => ({ i, k, cidr: mustCidr(text) })) : [],
      )
      .find(({ cidr }) => cidrContains(cidr, p.target));
    if (near) {
      sink.error(
        `${at}.target`,
        "path-target",
        `${p.target} is inside tunnels[${near.i}].localSubnets[${near.k}] ${near.cidr.text}, this side of the tunnel; a path probe must target the far VPC`,
      );
    }
  }
  if (p.source !== undefined && ipFamily(p.source) !== ipFamily(p.target)) {
    sink.error(
      `${at}.source`,
      "family",
      `${p.source} is IPv${ipFamily(p.source)} but target ${p.target} is IPv${ipFamily(p.target)}`,
    );
  }
  const { source, port, timeoutMs, method, ...common } = p;
  const base = { ...common, ...(source !== undefined && { source }) };
  if (method === "icmp") {
    checkIcmpPath(at, p, sink);
    return { ...base, method };
  }
  return { ...base, method, port: port ?? PROBE_PORT, timeoutMs: probeTimeout(at, p, sink) };
}

/** ping sends no port and waits one interval for each echo: a written value would be ignored. */
function checkIcmpPath(at: string, p: ParsedPath, sink: Sink): void {
  for (const [field, why] of [
    ["port", "an ICMP echo has no port"],
    ["timeoutMs", "ping waits intervalMs for each echo"],
  ] as const) {
    if (p[field] === undefined) continue;
    sink.error(
      `${at}.${field}`,
      "path-method",
      `is not used with method icmp: ${why}; remove it, or use method udp`,
    );
  }
}

/** The tunnel's key, from exactly one of its file and its SSM parameter. */
function resolvePsk(
  parsed: ParsedConfig,
  at: string,
  psk: ParsedTunnel["psk"],
  keys: { files: Files; parameters: Parameters },
  sink: Sink,
): Psk | undefined {
  if (psk.file !== undefined && psk.ssm !== undefined) {
    sink.error(at, "psk-source", "has both file and ssm; a tunnel takes its key from one of them");
    return undefined;
  }
  if (psk.file !== undefined) return pskFromFile(`${at}.file`, psk.file, keys.files, sink);
  if (psk.ssm === undefined) {
    sink.error(at, "required", "needs file or ssm: where the tunnel's pre-shared key is");
    return undefined;
  }
  // Without the section nothing was fetched; checkSsmSection reports it once.
  if (parsed.ssm === undefined) return undefined;
  return pskFromSsm(`${at}.ssm`, psk.ssm, keys.parameters, sink);
}

/** Keys in SSM need to know the region (and maybe the endpoint) they are read from. */
function checkSsmSection(parsed: ParsedConfig, sink: Sink): void {
  const first = parsed.tunnels.findIndex((t) => t.type === "peer" && t.psk.ssm !== undefined);
  if (first < 0 || parsed.ssm !== undefined) return;
  sink.error(
    "ssm",
    "required",
    `is required: tunnels[${first}].psk.ssm takes its key from SSM Parameter Store, and this section says in which region`,
  );
}

/** A key from a PSK file: the file must be readable and private, and the key pass the rules. */
function pskFromFile(at: string, file: string, files: Files, sink: Sink): Psk | undefined {
  const facts = readable(at, file, files, "psk-file", sink);
  if (!facts) return undefined;
  const privateMode = checkPrivateMode(at, file, facts.mode, "psk-mode", sink);
  const key = checkPskText(at, file, facts.content.reveal(), sink);
  return privateMode ? key : undefined;
}

/**
 * A key from SSM Parameter Store, fetched by the loader before verify: it must have been read,
 * be a SecureString (KMS-encrypted at rest, like a private file), and pass the same rules.
 */
function pskFromSsm(at: string, name: string, parameters: Parameters, sink: Sink): Psk | undefined {
  const facts = parameters.get(name);
  if (facts === undefined) throw new Error(`config check: no facts for SSM parameter ${name}`);
  if (!facts.found) {
    sink.error(at, "psk-ssm", `SSM parameter ${name} ${facts.reason}`);
    return undefined;
  }
  if (facts.type !== "SecureString") {
    sink.error(
      at,
      "psk-ssm",
      `SSM parameter ${name} is a ${facts.type}, stored unencrypted; a key must be a SecureString`,
    );
    return undefined;
  }
  return checkPskText(at, `SSM parameter ${name}`, facts.value.reveal(), sink);
}

/** The listener, once its TLS files pass the checks the controller's own TLS files pass too. */
function resolveListen(
  listen: NonNullable<ParsedConfig["api"]["listen"]>,
  files: Files,
  sink: Sink,
): ResolvedListen | undefined {
  const tls = checkTlsFiles("api.listen.tls", listen.tls, files, sink);
  return tls && { address: listen.address, port: listen.port, tls };
}

/** Paths and tunnels are separate name spaces: a path may share its tunnel's name. */
function checkUnique<T>(list: string, items: readonly T[], field: keyof T & string, sink: Sink) {
  const first = new Map<unknown, number>();
  items.forEach((item, i) => {
    const value = item[field];
    if (value === undefined) return;
    const j = first.get(value);
    if (j === undefined) first.set(value, i);
    else {
      sink.error(
        `${list}[${i}].${field}`,
        "duplicate",
        `${JSON.stringify(value)} is already used by ${list}[${j}]`,
      );
    }
  });
}

/**
 * An aws-vpn entry's two tunnels take names and XFRM ids of their own, which must not clash
 * with any other tunnel's (clashes between peers are checkUnique's).
 */
function checkAwsUnique(
  complete: ReadonlyArray<{ index: number; resolved: readonly ResolvedTunnel[] }>,
  field: "name" | "ifId",
  sink: Sink,
): void {
  const seen = new Map<unknown, { path: string; aws: boolean }>();
  for (const { index, resolved } of complete) {
    for (const t of resolved) {
      const value = t[field];
      if (value === undefined) continue;
      const path = t.aws ? `tunnels[${index}].tunnels[${t.aws.index - 1}]` : `tunnels[${index}]`;
      const first = seen.get(value);
      if (first === undefined) seen.set(value, { path, aws: t.aws !== undefined });
      else if (t.aws || first.aws)
        sink.error(
          field === "name" ? `tunnels[${index}].name` : `${path}.ifId`,
          "duplicate",
          `${JSON.stringify(value)} (the tunnel ${t.name}) is already used by ${first.path}`,
        );
    }
  }
}

/** A tunnel's probe CHILD_SA is named `<tunnel>-probe`: no other tunnel may take that name. */
function checkProbeChildNames(tunnels: ParsedConfig["tunnels"], sink: Sink): void {
  const probed = new Map(
    tunnels.flatMap((t, i) => (t.type === "peer" && t.probe ? [[probeChildName(t.name), i]] : [])),
  );
  tunnels.forEach((t, i) => {
    const owner = probed.get(t.name);
    if (owner !== undefined)
      sink.error(
        `tunnels[${i}].name`,
        "duplicate",
        `${JSON.stringify(t.name)} is the name of tunnels[${owner}]'s probe CHILD_SA`,
      );
  });
}

/**
 * Two tunnels may reach the same remote subnets (e.g. to both appliances of a peer pair),
 * but only distinct priorities tell the kernel which one wins. Sorted by start address, so
 * a config of hundreds of tunnels is checked in O(n log n), not pair by pair.
 */
function checkSharedRemotes(tunnels: ParsedConfig["tunnels"], sink: Sink): void {
  const peers = tunnels.map((t) => (t.type === "peer" ? t : undefined));
  const blocks = peers
    .flatMap((t, i) =>
      (t?.remoteSubnets ?? []).map((text, k) => {
        const cidr = mustCidr(text);
        return { i, k, cidr, last: cidrLast(cidr), priority: t?.priority };
      }),
    )
    .sort((a, b) => a.cidr.family - b.cidr.family || cmp(a.cidr.network, b.cidr.network));
  // For each later subnet and earlier tunnel, the earlier tunnel's first overlapping subnet.
  const found = new Map<string, { i: number; k: number; j: number; m: number }>();
  blocks.forEach((a, x) => {
    for (let y = x + 1; y < blocks.length; y++) {
      const b = blocks[y] as (typeof blocks)[number];
      if (b.cidr.family !== a.cidr.family || b.cidr.network > a.last) break;
      if (a.i === b.i) continue;
      if (a.priority !== undefined && b.priority !== undefined && a.priority !== b.priority)
        continue;
      const [early, late] = a.i < b.i ? [a, b] : [b, a];
      const key = `${late.i}/${late.k}/${early.i}`;
      const seen = found.get(key);
      if (!seen || early.k < seen.m)
        found.set(key, { i: late.i, k: late.k, j: early.i, m: early.k });
    }
  });
  const ordered = [...found.values()].sort((p, q) => p.i - q.i || p.j - q.j || p.k - q.k);
  for (const { i, k, j, m } of ordered) {
    const r = peers[i]?.remoteSubnets[k];
    const other = peers[j]?.remoteSubnets[m];
    sink.warn(
      `tunnels[${i}].remoteSubnets[${k}]`,
      "remote-overlap",
      `${mustCidr(r as string).text} overlaps tunnels[${j}].remoteSubnets[${m}] ${mustCidr(other as string).text}; set different priority values on both tunnels to choose which one carries the traffic`,
    );
  }
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The IKE identities a tunnel uses: localId defaults to publicAddress, else localAddress. */
function identities(parsed: ParsedConfig, t: ParsedTunnel) {
  const { appliance } = parsed;
  return {
    localId: t.localId ?? appliance.publicAddress ?? appliance.localAddress,
    remoteId: t.remoteId ?? t.remoteAddress,
  };
}

/**
 * charon picks the connection for an incoming IKE_SA by addresses and identities. Two
 * tunnels to the same peer with the same identities are indistinguishable: charon binds
 * both to one IKE_SA and refuses the second tunnel's CHILD_SA (seen: NO_PROPOSAL_CHOSEN).
 */
function checkAmbiguousPeers(parsed: ParsedConfig, sink: Sink): void {
  const seen = new Map<string, number>();
  parsed.tunnels.forEach((t, i) => {
    if (t.type !== "peer") return;
    const { localId, remoteId } = identities(parsed, t);
    const key = JSON.stringify([ipToBigInt(t.remoteAddress).toString(), localId, remoteId]);
    const j = seen.get(key);
    if (j === undefined) {
      seen.set(key, i);
      return;
    }
    sink.error(
      `tunnels[${i}]`,
      "ambiguous-peer",
      `goes to the same peer ${t.remoteAddress} with the same identities (${localId} ⇄ ${remoteId}) as tunnels[${j}]; charon cannot tell them apart. List all subnets in one tunnel, or give this one its own localId and remoteId`,
    );
  });
}

function checkSocketPath(path: string, socket: string, sink: Sink): void {
  const bytes = Buffer.byteLength(socket);
  if (bytes > SOCKET_PATH_MAX) {
    sink.error(
      path,
      "path-length",
      `socket path ${socket} is ${bytes} bytes; Unix sockets allow at most ${SOCKET_PATH_MAX}`,
    );
  }
}

/** The schema already proved every CIDR valid; failing here is a bug, not bad input. */
function mustCidr(text: string): Cidr {
  const r = parseCidr(text);
  if (!r.ok) throw new Error(`verifyConfig: unchecked CIDR ${text}: ${r.reason}`);
  return r.cidr;
}
