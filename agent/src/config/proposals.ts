/**
 * IKE and ESP proposal presets, and the checks that keep weak or misspelt proposals from
 * reaching charon. Keywords follow strongSwan's proposal_keywords_static.txt (5.9 and 6.x);
 * charon still has the last word on which of them its loaded plugins implement.
 */

export type Preset = "modern" | "aws-compatible";

export interface ProposalSet {
  readonly ike: readonly string[];
  readonly esp: readonly string[];
}

export const PRESETS: Readonly<Record<Preset, ProposalSet>> = {
  modern: {
    ike: ["aes256gcm16-prfsha384-x25519", "aes256gcm16-prfsha256-modp3072", "aes256-sha384-x25519"],
    esp: ["aes256gcm16-x25519", "aes256gcm16-modp3072"],
  },
  // AWS Site-to-Site VPN offers AES128/256(-GCM-16), SHA2-256/384/512 and DH groups
  // 14-21 (modp2048/3072/4096, ecp256/384/521); this picks the strong end of that range.
  "aws-compatible": {
    ike: [
      "aes256gcm16-prfsha384-ecp384",
      "aes256gcm16-prfsha256-modp3072",
      "aes256-sha256-modp2048",
      "aes128-sha256-modp2048",
    ],
    esp: [
      "aes256gcm16-ecp384",
      "aes256gcm16-modp3072",
      "aes256-sha256-modp2048",
      "aes128-sha256-modp2048",
    ],
  },
};

/** "no-ke" is the explicit "no PFS" choice: fine for ESP, not enough for IKE. */
type Kind = "aead" | "encr" | "integ" | "prf" | "ke" | "no-ke" | "esn";

const SIZES = "(128|192|256)";
const ICV = "(8|64|12|96|16|128)";
const KEYWORDS: readonly [Kind, RegExp][] = [
  [
    "aead",
    new RegExp(
      `^(aes${SIZES}(gcm|ccm)${ICV}?|aes${SIZES}gmac|camellia${SIZES}ccm${ICV}|chacha20poly1305(compat)?)$`,
    ),
  ],
  [
    "encr",
    new RegExp(
      `^(null|des|3des|aes(${SIZES}(ctr)?)?|camellia(${SIZES}(ctr)?)?|blowfish${SIZES}?|serpent${SIZES}?|twofish${SIZES}?|cast128)$`,
    ),
  ],
  [
    "integ",
    /^(sha|sha1|sha1_160|sha(2_)?(256|384|512)|sha(2_)?256_96|md5|md5_128|aesxcbc|camelliaxcbc|aescmac)$/,
  ],
  ["prf", /^prf(sha1|sha256|sha384|sha512|md5|aesxcbc|camelliaxcbc|aescmac)$/],
  // strongSwan 6 accepts additional key exchanges as ke1_ .. ke7_ prefixes.
  ["no-ke", /^(ke[1-7]_)?(none|modpnone)$/],
  [
    "ke",
    /^(ke[1-7]_)?(modpnull|modp(768|1024|1536|2048|3072|4096|6144|8192)|modp1024s160|modp2048s(224|256)|ecp(192|224|256|384|521)|ecp(224|256|384|512)bp|curve25519|x25519|curve448|x448|mlkem(512|768|1024))$/,
  ],
  ["esn", /^(no)?esn$/],
];

/** Tokens refused unless crypto.allowWeak is set, with the reason shown to the operator. */
const WEAK: readonly [RegExp, string][] = [
  [/^null$/, "no encryption"],
  [/^aes\d+gmac$/, "authentication only, no encryption"],
  [/^(3?des|blowfish\d*|cast128)$/, "64-bit block cipher"],
  [/^(prf)?(sha|sha1|sha1_160)$/, "SHA-1"],
  [/^(prf)?md5(_128)?$/, "MD5"],
  [/^(ke[1-7]_)?modpnull$/, "no key exchange"],
  [/^(ke[1-7]_)?modp(768|1024|1536)$/, "MODP group under 2048 bits"],
  [/^(ke[1-7]_)?modp(1024s160|2048s224|2048s256)$/, "MODP group with a small subgroup (RFC 8247)"],
  [/^(ke[1-7]_)?ecp(192|224|224bp)$/, "elliptic curve under 256 bits"],
];

export type ProposalProtocol = "ike" | "esp";

/** A problem with one proposal string; verify.ts places it at the proposal's path. */
export interface ProposalProblem {
  rule: "weak-proposal" | "proposal-keyword" | "proposal-incomplete";
  message: string;
}

function kindOf(token: string): Kind | undefined {
  return KEYWORDS.find(([, re]) => re.test(token))?.[0];
}

/** Why a keyword is weak, or undefined when it is not. */
function weakReason(token: string): string | undefined {
  return WEAK.find(([re]) => re.test(token))?.[1];
}

/**
 * Checks one proposal: every keyword known, the parts charon requires present (it would
 * otherwise refuse the whole connection at load time), and no weak keyword unless allowed.
 */
export function checkProposal(
  protocol: ProposalProtocol,
  proposal: string,
  allowWeak: boolean,
): ProposalProblem[] {
  const tokens = proposal.split("-");
  const unknown = tokens.filter((t) => kindOf(t) === undefined);
  if (unknown.length > 0) {
    return unknown.map((t) => ({
      rule: "proposal-keyword",
      message: `"${proposal}": "${t}" is not a strongSwan algorithm keyword`,
    }));
  }
  const problems: ProposalProblem[] = [];
  const missing = missingParts(protocol, new Set(tokens.map((t) => kindOf(t))));
  if (missing) {
    problems.push({ rule: "proposal-incomplete", message: `"${proposal}": ${missing}` });
  }
  if (!allowWeak) {
    for (const t of tokens) {
      const why = weakReason(t);
      if (why) {
        problems.push({
          rule: "weak-proposal",
          message: `"${proposal}": "${t}" is weak (${why}); use a stronger algorithm or set crypto.allowWeak`,
        });
      }
    }
  }
  return problems;
}

function missingParts(
  protocol: ProposalProtocol,
  kinds: Set<Kind | undefined>,
): string | undefined {
  const aead = kinds.has("aead");
  const classic = kinds.has("encr");
  if (!aead && !classic) return "needs an encryption algorithm";
  if (aead && classic) return "cannot mix AEAD (gcm, ccm, chacha20poly1305) and classic ciphers";
  if (protocol === "ike" && !kinds.has("ke")) return "IKE proposals need a key exchange method";
  if (protocol === "ike" && aead && !kinds.has("prf")) {
    return "IKE proposals with an AEAD cipher need a PRF such as prfsha384";
  }
  // charon accepts ESP without integrity, but RFC 8221 forbids encryption without it.
  if (classic && !kinds.has("integ")) return "a classic cipher needs an integrity algorithm";
  return undefined;
}

export interface CryptoSettings {
  preset: Preset;
  ike?: readonly string[] | undefined;
  esp?: readonly string[] | undefined;
  allowWeak: boolean;
}

export interface ResolvedProposals {
  ike: string[];
  esp: string[];
  /** field is relative to the crypto block, e.g. "ike[1]". */
  problems: (ProposalProblem & { field: string })[];
}

/** Explicit ike/esp lists replace the preset's; both are held to the same checks. */
export function resolveProposals(crypto: CryptoSettings): ResolvedProposals {
  const preset = PRESETS[crypto.preset];
  const ike = [...(crypto.ike ?? preset.ike)];
  const esp = [...(crypto.esp ?? preset.esp)];
  const problems = (["ike", "esp"] as const).flatMap((protocol) =>
    (protocol === "ike" ? ike : esp).flatMap((proposal, i) =>
      checkProposal(protocol, proposal, crypto.allowWeak).map((p) => ({
        ...p,
        field: `${protocol}[${i}]`,
      })),
    ),
  );
  return { ike, esp, problems };
}
