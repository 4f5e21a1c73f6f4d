/**
 * `count` tunnels to one peer, as the load and reload benchmarks use them: each its own
 * identities (rule ambiguous-peer) and /32 subnets, not started, a DPD delay per tunnel (the
 * field a reload changes).
 */
export function peerTunnels(
  count: number,
  opts: {
    remoteAddress: string;
    /** Prefixes of the local and remote identities: `${local}.t${i}`, `${remote}.t${i}`. */
    ids: [local: string, remote: string];
    psk: (i: number) => string;
    dpdDelayS: (i: number) => number;
  },
) {
  return Array.from({ length: count }, (_, i) => ({
    name: `t${i}`,
    type: "peer",
    remoteAddress: opts.remoteAddress,
    localId: `${opts.ids[0]}.t${i}`,
    remoteId: `${opts.ids[1]}.t${i}`,
    psk: { file: opts.psk(i) },
    localSubnets: [`10.1.${Math.floor(i / 250)}.${(i % 250) + 1}/32`],
    remoteSubnets: [`10.2.${Math.floor(i / 250)}.${(i % 250) + 1}/32`],
    startAction: "none",
    dpdDelayS: opts.dpdDelayS(i),
  }));
}
