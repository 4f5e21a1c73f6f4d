import type { Phase } from "./model.ts";
import type { EncryptionAlgorithm, IntegrityAlgorithm } from "./rules.ts";

/**
 * AWS's algorithm sets for one phase of a tunnel as strongSwan proposal strings that accept
 * exactly those sets (https://docs.strongswan.org/docs/5.9/config/proposals.html). AWS lets
 * every listed algorithm combine with every other, and so does an IKEv2 proposal listing
 * several algorithms of a kind: one proposal holds the classic (CBC) ciphers, another the
 * AEAD (GCM) ones, since AEAD may not share a proposal with integrity algorithms. Within a
 * proposal, and between the two, AWS's order is kept as the preference.
 */

export type PhaseSets = Pick<Phase, "encryption" | "integrity" | "dhGroups">;

const ENCRYPTION: Record<EncryptionAlgorithm, { keyword: string; aead: boolean }> = {
  AES128: { keyword: "aes128", aead: false },
  AES256: { keyword: "aes256", aead: false },
  "AES128-GCM-16": { keyword: "aes128gcm16", aead: true },
  "AES256-GCM-16": { keyword: "aes256gcm16", aead: true },
};

/** ESP's sha256 is HMAC-SHA-256-128 (RFC 4868), what AWS uses, not the old 96-bit one. */
const INTEGRITY: Record<IntegrityAlgorithm, string> = {
  SHA1: "sha1",
  "SHA2-256": "sha256",
  "SHA2-384": "sha384",
  "SHA2-512": "sha512",
};

/** IANA's Diffie-Hellman group numbers as strongSwan's key exchange keywords. */
const DH_GROUPS: Readonly<Record<number, string>> = {
  2: "modp1024",
  5: "modp1536",
  14: "modp2048",
  15: "modp3072",
  16: "modp4096",
  17: "modp6144",
  18: "modp8192",
  19: "ecp256",
  20: "ecp384",
  21: "ecp521",
  22: "modp1024s160",
  23: "modp2048s224",
  24: "modp2048s256",
};

/** The keyword of a DH group; throws on a group AWS does not offer (the schema refuses those). */
export function dhGroupKeyword(group: number): string {
  const keyword = DH_GROUPS[group];
  if (keyword === undefined) throw new Error(`Diffie-Hellman group ${group} has no keyword here`);
  return keyword;
}

interface Family {
  ciphers: string[];
  /** Where the family's first cipher is in AWS's list, to order the proposals. */
  rank: number;
  /** The integrity or PRF keywords that go with the ciphers; [] where none are needed. */
  companions: string[] | undefined;
}

function ciphers(phase: PhaseSets, aead: boolean): Pick<Family, "ciphers" | "rank"> {
  const mine = phase.encryption.filter((e) => ENCRYPTION[e].aead === aead);
  return {
    ciphers: mine.map((e) => ENCRYPTION[e].keyword),
    rank: mine.length > 0 ? phase.encryption.indexOf(mine[0] as EncryptionAlgorithm) : 0,
  };
}

/**
 * One proposal per family that has ciphers and what they need, each ending in the DH groups;
 * none at all without DH groups (IKE needs one, and AWS requires PFS for ESP).
 */
function assemble(families: Family[], phase: PhaseSets): string[] {
  const groups = phase.dhGroups.map(dhGroupKeyword);
  if (groups.length === 0) return [];
  return families
    .filter((f) => f.ciphers.length > 0 && f.companions !== undefined)
    .sort((a, b) => a.rank - b.rank)
    .map((f) => [...f.ciphers, ...(f.companions ?? []), ...groups].join("-"));
}

const nonEmpty = (list: string[]) => (list.length > 0 ? list : undefined);

/**
 * IKE (phase 1) proposals. The classic proposal's integrity algorithms also serve as its PRFs
 * (strongSwan derives them when none are listed); the AEAD proposal takes AWS's integrity set
 * as PRFs (prfsha256, ...). IKEv1 has no AEAD ciphers for IKE (strongSwan cannot encode them),
 * so with ikeVersion 1 the GCM ciphers are left out: AWS could not negotiate them either. An
 * IKEv1 initiator sends only the first algorithm of each kind; as responder it takes them all.
 */
export function ikeProposalsFor(phase: PhaseSets, ikeVersion: 1 | 2 = 2): string[] {
  const integrity = phase.integrity.map((i) => INTEGRITY[i]);
  const aead = ciphers(phase, true);
  return assemble(
    [
      { ...ciphers(phase, false), companions: nonEmpty(integrity) },
      {
        ...aead,
        ciphers: ikeVersion === 1 ? [] : aead.ciphers,
        companions: nonEmpty(integrity.map((i) => `prf${i}`)),
      },
    ],
    phase,
  );
}

/**
 * ESP (phase 2) proposals, with the phase's DH groups for PFS. GCM proposals carry no
 * integrity algorithm: AWS's integrity set applies to the CBC ciphers only.
 */
export function espProposalsFor(phase: PhaseSets): string[] {
  return assemble(
    [
      { ...ciphers(phase, false), companions: nonEmpty(phase.integrity.map((i) => INTEGRITY[i])) },
      { ...ciphers(phase, true), companions: [] },
    ],
    phase,
  );
}
