import { join } from "node:path";
import { SOCKET_PATH_MAX } from "../../../common/agent-api/limits.ts";
import {
  type Cidr,
  cidrContains,
  cidrLast,
  cidrsOverlap,
  ipFamily,
  ipToBigInt,
  parseCidr,
} from "../../../common/cidr.ts";
import {
  checkPrivateMode,
  checkTlsFiles,
  type Files,
  readable,
} from "../../../common/config-files.ts";
import { Secret } from "../../../common/secret.ts";
import { resolveProposals } from "./proposals.ts";
import type { ParsedConfig, ParsedPath, ParsedTunnel } from "./schema.ts";
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
 * Semantic checks that span fields, tunnels or the files the config names (PSKs, TLS), on top
 * of the zod output. Pure: the file system facts come in as FileFacts, read by load.ts.
 */

export const PSK_MIN_LENGTH = 16;
/** Default probe timeout cap: a late answer past 1 s says the path is unhealthy anyway. */
export const PROBE_TIMEOUT_CAP_MS = 1000;

interface Sink {
  error(path: string, rule: string, message: string): void;
  warn(path: string, rule: string, message: string): void;
}

export function verifyConfig(parsed: ParsedConfig, files: Files): LoadResult {
  const issues: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const sink: Sink = {
    error: (path, rule, message) => issues.push({ path, rule, message }),
    warn: (path, rule, message) => warnings.push({ path, rule, message }),
  };
  const tunnels = parsed.tunnels.map((t, i) => resolveTunnel(parsed, t, i, files, sink));
  checkUnique("tunnels", parsed.tunnels, "name", sink);
  checkUnique("tunnels", parsed.tunnels, "ifId", sink);
  const paths = parsed.paths.map((p, i) => resolvePath(parsed, p, i, sink));
  checkUnique("paths", parsed.paths, "name", sink);
  checkSharedRemotes(parsed.tunnels, sink);
  checkAmbiguousPeers(parsed, sink);
  const vici = parsed.charon.vici ?? join(parsed.stateDir, "charon.vici");
  checkSocketPath(parsed.charon.vici ? "charon.vici" : "stateDir", vici, sink);
  checkSocketPath("api.socket", parsed.api.socket, sink);
  const listen = parsed.api.listen && resolveListen(parsed.api.listen, files, sink);

  const complete = tunnels.filter((t): t is ResolvedTunnel => t !== undefined);
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
    tunnels: complete,
    paths,
  };
  return { ok: true, config, warnings };
}

/** Returns the resolved tunnel, or undefined when the PSK could not be accepted. */
function resolveTunnel(
  parsed: ParsedConfig,
  t: ParsedTunnel,
  index: number,
  files: Files,
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

  const psk = checkPsk(`${at}.psk.file`, t.psk.file, files, sink);
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
      t.probe?.source,
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
      .flatMap((t, i) => t.localSubnets.map((text, k) => ({ i, k, cidr: mustCidr(text) })))
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
  const { source, ...rest } = p;
  return { ...rest, ...(source !== undefined && { source }), timeoutMs: probeTimeout(at, p, sink) };
}

/**
 * One trailing "\n" or "\r\n" is stripped from a PSK, since editors add one. A key in
 * strongSwan's 0x/0s notation is decoded, as the peer's charon decodes it, and may be binary.
 */
function checkPsk(
  at: string,
  file: string,
  files: Files,
  sink: Sink,
): Secret<string | Uint8Array> | undefined {
  const facts = readable(at, file, files, "psk-file", sink);
  if (!facts) return undefined;
  let ok = checkPrivateMode(at, file, facts.mode, "psk-mode", sink);
  const value = facts.content.reveal().replace(/\r?\n$/, "");
  const decoded = decodePskNotation(value);
  if (decoded && "problem" in decoded) {
    sink.error(at, decoded.rule, `the PSK in ${file} ${decoded.problem}`);
    return undefined;
  }
  if (decoded) {
    const n = decoded.bytes.length;
    if (n >= PSK_MIN_LENGTH) return ok ? new Secret<Uint8Array>(decoded.bytes) : undefined;
    sink.error(
      at,
      "psk-length",
      `the PSK in ${file} is ${n} bytes once decoded; at least ${PSK_MIN_LENGTH} are needed`,
    );
    return undefined;
  }
  if (value.length < PSK_MIN_LENGTH) {
    sink.error(at, "psk-length", `the PSK in ${file} is shorter than ${PSK_MIN_LENGTH} characters`);
    ok = false;
  }
  const bad = /[^\x21-\x7e]|["\\]/.exec(value);
  if (bad) {
    sink.error(
      at,
      "psk-charset",
      `the PSK in ${file} has ${describeChar(bad[0])} at position ${bad.index + 1}; only printable ASCII without spaces, quotes or backslashes is allowed`,
    );
    ok = false;
  }
  return ok ? new Secret(value) : undefined;
}

type Decoded = { bytes: Buffer } | { rule: "psk-hex" | "psk-base64"; problem: string };

/**
 * strongSwan's notation for binary secrets (swanctl.conf, ipsec.secrets): "0x" then hex, or
 * "0s" then base64, the prefix in any case; undefined for a plain key. Stricter than
 * strongSwan, which reads an odd digit count, a stray character or a cut-off base64 value
 * as some other key without a word. Problems give a position and a kind, never a character.
 */
function decodePskNotation(value: string): Decoded | undefined {
  const prefix = value.slice(0, 2).toLowerCase();
  if (prefix !== "0x" && prefix !== "0s") return undefined;
  const body = value.slice(2);
  const rule = prefix === "0x" ? "psk-hex" : "psk-base64";
  const fail = (problem: string): Decoded => ({
    rule,
    problem: `starts with ${prefix}, so it is read as ${rule.slice(4)}, but ${problem}`,
  });
  const at = (i: number) => `at position ${i + 3}`;
  if (body === "") return fail(`nothing follows ${prefix}`);
  if (rule === "psk-hex") {
    const bad = /[^0-9a-f]/i.exec(body);
    if (bad?.[0] === ":")
      return fail(`it has a colon ${at(bad.index)}; write the digits without separators`);
    if (bad)
      return fail(
        `it has ${strayChar(bad[0], "a character that is not a hex digit")} ${at(bad.index)}`,
      );
    if (body.length % 2 === 1)
      return fail(`it has an odd number of hex digits (${body.length}); each byte takes two`);
    return { bytes: Buffer.from(body, "hex") };
  }
  const bad = /[^A-Za-z0-9+/=]/.exec(body);
  if (bad)
    return fail(
      `it has ${strayChar(bad[0], "a character outside the base64 alphabet (A-Z a-z 0-9 + /)")} ${at(bad.index)}`,
    );
  const pad = body.indexOf("=");
  if (pad >= 0 && !/^={1,2}$/.test(body.slice(pad)))
    return fail(`it has "=" ${at(pad)}; padding may only end the value, at most twice`);
  if (body.length % 4 !== 0)
    return fail(
      `it has ${body.length} characters after 0s, not a multiple of 4: "=" padding is missing or the value is cut short`,
    );
  const bytes = Buffer.from(body, "base64");
  // Only a last character with bits that no byte uses can still differ here.
  if (bytes.toString("base64") !== body)
    return fail(
      `its last character before the padding is not canonical base64 (it sets bits no byte uses)`,
    );
  return { bytes };
}

/** describeChar for any character; `printable` names a printable ASCII one by its role. */
function strayChar(c: string, printable: string): string {
  return /[\x21-\x7e]/.test(c) && !/["\\]/.test(c) ? printable : describeChar(c);
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

/** Names the offending character without echoing any part of the secret that is allowed. */
function describeChar(c: string): string {
  if (c === " ") return "a space";
  if (c === '"') return "a double quote";
  if (c === "\\") return "a backslash";
  if (c === "\n" || c === "\r") return "a line break";
  if (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f) return "a control character";
  return "a non-ASCII character";
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
 * Two tunnels may reach the same remote subnets (e.g. to both appliances of a peer pair),
 * but only distinct priorities tell the kernel which one wins. Sorted by start address, so
 * a config of hundreds of tunnels is checked in O(n log n), not pair by pair.
 */
function checkSharedRemotes(tunnels: ParsedTunnel[], sink: Sink): void {
  const blocks = tunnels
    .flatMap((t, i) =>
      t.remoteSubnets.map((text, k) => {
        const cidr = mustCidr(text);
        return { i, k, cidr, last: cidrLast(cidr), priority: t.priority };
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
    const r = tunnels[i]?.remoteSubnets[k];
    const other = tunnels[j]?.remoteSubnets[m];
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

function sameIp(a: string, b: string): boolean {
  return ipFamily(a) === ipFamily(b) && ipToBigInt(a) === ipToBigInt(b);
}

/** The schema already proved every CIDR valid; failing here is a bug, not bad input. */
function mustCidr(text: string): Cidr {
  const r = parseCidr(text);
  if (!r.ok) throw new Error(`verifyConfig: unchecked CIDR ${text}: ${r.reason}`);
  return r.cidr;
}
