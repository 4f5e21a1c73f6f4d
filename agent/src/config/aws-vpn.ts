import type { ParsedAwsVpn, ParsedConfig } from "../../../common/agent-config/schema.ts";
import { awsTunnelName } from "../../../common/aws-vpn/entry.ts";
import { pskProblem } from "../../../common/aws-vpn/rules.ts";
import { espProposalsFor, ikeProposalsFor } from "../../../common/aws-vpn/strongswan-proposals.ts";
import { cidrsOverlap, cidrWithin, parseCidr, sameIp } from "../../../common/cidr.ts";
import {
  checkPrivateMode,
  type Files,
  type IssueSink,
  readable,
} from "../../../common/config-files.ts";
import { Secret } from "../../../common/secret.ts";
import type { ResolvedTunnel } from "./types.ts";

/**
 * A `type: aws-vpn` entry becomes two tunnels, `<name>-t1` and `<name>-t2`, one per tunnel of
 * the AWS VPN connection (decision 0023). The AWS rules on the entry's own fields are the
 * schema's (common/aws-vpn/schema.ts); here are the ones that need the rest of the config.
 */

const ANY = "0.0.0.0/0";
/** NAME_PATTERN allows 63 characters, and the tunnels add "-t1". */
export const AWS_ENTRY_NAME_MAX = 60;

export function resolveAwsVpn(
  parsed: ParsedConfig,
  entry: ParsedAwsVpn,
  index: number,
  files: Files,
  sink: IssueSink,
): ResolvedTunnel[] | undefined {
  const at = `tunnels[${index}]`;
  if (entry.name.length > AWS_ENTRY_NAME_MAX)
    sink.error(
      `${at}.name`,
      "name-length",
      `is ${entry.name.length} characters; an aws-vpn entry's name may have ${AWS_ENTRY_NAME_MAX}, since its tunnels are named <name>-t1 and <name>-t2`,
    );
  const local = entry.localNetworkCidr ?? ANY;
  const remote = entry.remoteNetworkCidr ?? ANY;
  const remotePrefixes = checkPrefixes(at, entry, { local, remote }, sink);
  const own = parsed.appliance.publicAddress ?? parsed.appliance.localAddress;
  const out: ResolvedTunnel[] = [];
  for (const [k, t] of entry.tunnels.entries()) {
    const n = (k + 1) as 1 | 2;
    const tat = `${at}.tunnels[${k}]`;
    if (!sameIp(t.outside.local, own))
      sink.error(
        `${tat}.outside.local`,
        "aws-outside",
        `${t.outside.local} is not this appliance's ${parsed.appliance.publicAddress ? "publicAddress" : "localAddress"} ${own}; AWS knows the customer gateway by that address`,
      );
    if (parsed.datapath === "kernel" && t.ifId === undefined)
      sink.error(
        `${tat}.ifId`,
        "required",
        "is required when datapath is kernel (XFRM interface id)",
      );
    const ikeVersion = t.ikeVersions.includes("ikev2") ? 2 : 1;
    const ikeProposals = ikeProposalsFor(t.phase1, ikeVersion);
    // IKEv1 cannot carry GCM for IKE (strongSwan has no IKEv1 encoding of it).
    if (ikeProposals.length === 0)
      sink.error(
        `${tat}.phase1.encryption`,
        "aws-ikev1-gcm",
        "lists only GCM ciphers, which IKEv1 cannot use for IKE; add AES128 or AES256, or allow ikev2",
      );
    const psk = awsPsk(`${tat}.psk.file`, t.psk.file, files, sink);
    if (psk === undefined || ikeProposals.length === 0) continue;
    out.push({
      name: awsTunnelName(entry.name, n),
      type: "aws-vpn",
      aws: {
        entry: entry.name,
        vpnConnectionId: entry.vpnConnectionId,
        index: n,
        ikeVersion,
        inside: { ...t.inside },
        ikeLifetimeS: t.phase1.lifetimeS,
        childLifetimeS: t.phase2.lifetimeS,
        dpdTimeoutS: t.dpd.timeoutS,
        routing: entry.routing,
        remotePrefixes,
        advertise: entry.advertise ?? [],
        ...(t.bgp && { bgp: { ...t.bgp } }),
        probe: { ...entry.probe },
      },
      remoteAddress: t.outside.remote,
      localId: t.outside.local,
      remoteId: t.outside.remote,
      psk,
      localSubnets: [local],
      remoteSubnets: [remote],
      ikeProposals,
      espProposals: espProposalsFor(t.phase2),
      startAction: "start",
      dpdDelayS: t.dpd.delayS,
      ...(t.ifId !== undefined && { ifId: t.ifId }),
    });
  }
  return out.length === 2 ? out : undefined;
}

/**
 * Static routing needs the networks behind AWS (the VPN connection does not say them: its
 * static routes are this side's prefixes, which AWS routes here). Each must fit its selector.
 */
function checkPrefixes(
  at: string,
  entry: ParsedAwsVpn,
  selectors: { local: string; remote: string },
  sink: IssueSink,
) {
  const remotePrefixes = entry.remotePrefixes ?? [];
  if (entry.routing === "bgp" && (entry.advertise ?? []).length === 0)
    sink.error(
      `${at}.advertise`,
      "required",
      "is required with routing bgp: the networks this side announces to AWS (such as the VPC's CIDRs)",
    );
  if (entry.routing === "static" && remotePrefixes.length === 0)
    sink.error(
      `${at}.remotePrefixes`,
      "required",
      "is required with routing static: the networks behind AWS (such as the VPC's CIDRs), which the agent routes over the tunnel that carries",
    );
  for (const [field, list, selector, name] of [
    ["remotePrefixes", remotePrefixes, selectors.remote, "remoteNetworkCidr"],
    ["staticRoutes", entry.staticRoutes ?? [], selectors.local, "localNetworkCidr"],
    ["advertise", entry.advertise ?? [], selectors.local, "localNetworkCidr"],
  ] as const) {
    list.forEach((prefix, i) => {
      if (!within(prefix, selector))
        sink.error(
          `${at}.${field}[${i}]`,
          "aws-selector",
          `${prefix} is outside ${name} ${selector}; the tunnels cannot carry it`,
        );
    });
  }
  return remotePrefixes;
}

function within(prefix: string, selector: string): boolean {
  const outer = parseCidr(selector);
  const inner = parseCidr(prefix);
  return !outer.ok || !inner.ok || cidrWithin(inner.cidr, outer.cidr);
}

/** AWS's key rule (8-64 of [A-Za-z0-9._], no leading 0), not the agent's 16-character one. */
function awsPsk(at: string, file: string, files: Files, sink: IssueSink) {
  const facts = readable(at, file, files, "psk-file", sink);
  if (!facts) return undefined;
  const privateMode = checkPrivateMode(at, file, facts.mode, "psk-mode", sink);
  const key = facts.content.reveal().replace(/\r?\n$/, "");
  const problem = pskProblem(key);
  if (problem) {
    sink.error(at, "aws-psk", `${problem} (in ${file})`);
    return undefined;
  }
  return privateMode ? new Secret(key) : undefined;
}

/**
 * Checks across entries, on the tunnels they became: each inside /30 belongs to one tunnel,
 * and under libipsec no two entries' selectors overlap, since libipsec sends all traffic that
 * matches equal selectors into one CHILD_SA, whichever VPN connection it belongs to.
 */
export function checkAwsTunnels(
  tunnels: ReadonlyArray<{ index: number; resolved: readonly ResolvedTunnel[] }>,
  datapath: ParsedConfig["datapath"],
  sink: IssueSink,
): void {
  const made = tunnels.flatMap(({ index, resolved }) =>
    resolved.flatMap((t) => (t.aws ? [{ index, t, aws: t.aws }] : [])),
  );
  const insides = new Map<string, string>();
  for (const { index, t, aws } of made) {
    const key = parseCidr(aws.inside.cidr);
    const text = key.ok ? key.cidr.text : aws.inside.cidr;
    const owner = insides.get(text);
    if (owner !== undefined)
      sink.error(
        `tunnels[${index}].tunnels[${aws.index - 1}].inside.cidr`,
        "duplicate",
        `${text} is already the inside CIDR of ${owner}`,
      );
    else insides.set(text, t.name);
  }
  const asns = made.flatMap(({ index, aws }) =>
    aws.bgp && aws.index === 1 ? [{ index, asn: aws.bgp.localAsn }] : [],
  );
  const other = asns.find((a) => a.asn !== asns[0]?.asn);
  if (other)
    sink.error(
      `tunnels[${other.index}].tunnels[0].bgp.localAsn`,
      "bgp-asn",
      `${other.asn} differs from tunnels[${asns[0]?.index}]'s ${asns[0]?.asn}; one bgpd speaks for this appliance, with one ASN`,
    );
  if (datapath !== "libipsec") return;
  const firsts = made.filter(({ aws }) => aws.index === 1);
  firsts.forEach((b, y) => {
    const a = firsts.slice(0, y).find((a) => selectorsOverlap(a.t, b.t));
    if (a)
      sink.error(
        `tunnels[${b.index}]`,
        "aws-libipsec-overlap",
        `carries ${b.t.localSubnets[0]} ⇄ ${b.t.remoteSubnets[0]}, which overlaps tunnels[${a.index}] (${a.t.localSubnets[0]} ⇄ ${a.t.remoteSubnets[0]}); libipsec cannot keep two VPN connections' traffic apart. Use datapath kernel, or narrow localNetworkCidr/remoteNetworkCidr`,
      );
  });
}

function selectorsOverlap(a: ResolvedTunnel, b: ResolvedTunnel): boolean {
  const overlap = (x: string | undefined, y: string | undefined) => {
    const p = parseCidr(x ?? "");
    const q = parseCidr(y ?? "");
    return p.ok && q.ok && cidrsOverlap(p.cidr, q.cidr);
  };
  return (
    overlap(a.localSubnets[0], b.localSubnets[0]) && overlap(a.remoteSubnets[0], b.remoteSubnets[0])
  );
}
