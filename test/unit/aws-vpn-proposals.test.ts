import fc from "fast-check";
import t from "tap";
import { checkProposal } from "../../agent/src/config/proposals.ts";
import {
  ENCRYPTION_ALGORITHMS,
  INTEGRITY_ALGORITHMS,
  PHASE1_DH_GROUPS,
  PHASE2_DH_GROUPS,
} from "../../common/aws-vpn/rules.ts";
import {
  dhGroupKeyword,
  espProposalsFor,
  ikeProposalsFor,
  type PhaseSets,
} from "../../common/aws-vpn/strongswan-proposals.ts";

/** AWS's sets for a phase as strongSwan proposals: exact outputs, and charon's grammar. */

const ALL_PHASE1 =
  "modp1024-modp2048-modp3072-modp4096-modp6144-modp8192-ecp256-ecp384-ecp521-modp1024s160-modp2048s224-modp2048s256";
const ALL_PHASE2 = ALL_PHASE1.replace("modp1024-", "modp1024-modp1536-");

interface Case {
  name: string;
  phase: PhaseSets;
  ike: string[];
  /** IKEv1, where it differs from IKEv2. */
  ikeV1?: string[];
  esp: string[];
}

const CASES: Case[] = [
  {
    name: "moto's document: aes-128-cbc, sha1, group2",
    phase: { encryption: ["AES128"], integrity: ["SHA1"], dhGroups: [2] },
    ike: ["aes128-sha1-modp1024"],
    esp: ["aes128-sha1-modp1024"],
  },
  {
    name: "AWS's full default set, phase 1",
    phase: {
      encryption: [...ENCRYPTION_ALGORITHMS],
      integrity: [...INTEGRITY_ALGORITHMS],
      dhGroups: [...PHASE1_DH_GROUPS],
    },
    ike: [
      `aes128-aes256-sha1-sha256-sha384-sha512-${ALL_PHASE1}`,
      `aes128gcm16-aes256gcm16-prfsha1-prfsha256-prfsha384-prfsha512-${ALL_PHASE1}`,
    ],
    ikeV1: [`aes128-aes256-sha1-sha256-sha384-sha512-${ALL_PHASE1}`],
    esp: [
      `aes128-aes256-sha1-sha256-sha384-sha512-${ALL_PHASE1}`,
      `aes128gcm16-aes256gcm16-${ALL_PHASE1}`,
    ],
  },
  {
    name: "AWS's full default set, phase 2 (adds group 5)",
    phase: {
      encryption: [...ENCRYPTION_ALGORITHMS],
      integrity: [...INTEGRITY_ALGORITHMS],
      dhGroups: [...PHASE2_DH_GROUPS],
    },
    ike: [
      `aes128-aes256-sha1-sha256-sha384-sha512-${ALL_PHASE2}`,
      `aes128gcm16-aes256gcm16-prfsha1-prfsha256-prfsha384-prfsha512-${ALL_PHASE2}`,
    ],
    ikeV1: [`aes128-aes256-sha1-sha256-sha384-sha512-${ALL_PHASE2}`],
    esp: [
      `aes128-aes256-sha1-sha256-sha384-sha512-${ALL_PHASE2}`,
      `aes128gcm16-aes256gcm16-${ALL_PHASE2}`,
    ],
  },
  {
    name: "GCM only: IKE takes the integrity set as PRFs, ESP ignores it",
    phase: {
      encryption: ["AES256-GCM-16", "AES128-GCM-16"],
      integrity: ["SHA2-384", "SHA2-256"],
      dhGroups: [20, 19],
    },
    ike: ["aes256gcm16-aes128gcm16-prfsha384-prfsha256-ecp384-ecp256"],
    ikeV1: [],
    esp: ["aes256gcm16-aes128gcm16-ecp384-ecp256"],
  },
  {
    name: "mixed, GCM first: the AEAD proposal leads",
    phase: {
      encryption: ["AES256-GCM-16", "AES256", "AES128"],
      integrity: ["SHA2-512", "SHA1"],
      dhGroups: [21, 14, 24],
    },
    ike: [
      "aes256gcm16-prfsha512-prfsha1-ecp521-modp2048-modp2048s256",
      "aes256-aes128-sha512-sha1-ecp521-modp2048-modp2048s256",
    ],
    ikeV1: ["aes256-aes128-sha512-sha1-ecp521-modp2048-modp2048s256"],
    esp: [
      "aes256gcm16-ecp521-modp2048-modp2048s256",
      "aes256-aes128-sha512-sha1-ecp521-modp2048-modp2048s256",
    ],
  },
  {
    name: "mixed, CBC first, every other group",
    phase: {
      encryption: ["AES128", "AES128-GCM-16"],
      integrity: ["SHA2-256"],
      dhGroups: [5, 15, 16, 17, 18, 22, 23],
    },
    ike: [
      "aes128-sha256-modp1536-modp3072-modp4096-modp6144-modp8192-modp1024s160-modp2048s224",
      "aes128gcm16-prfsha256-modp1536-modp3072-modp4096-modp6144-modp8192-modp1024s160-modp2048s224",
    ],
    ikeV1: ["aes128-sha256-modp1536-modp3072-modp4096-modp6144-modp8192-modp1024s160-modp2048s224"],
    esp: [
      "aes128-sha256-modp1536-modp3072-modp4096-modp6144-modp8192-modp1024s160-modp2048s224",
      "aes128gcm16-modp1536-modp3072-modp4096-modp6144-modp8192-modp1024s160-modp2048s224",
    ],
  },
  {
    name: "no integrity: only GCM ESP is possible",
    phase: { encryption: ["AES128", "AES256-GCM-16"], integrity: [], dhGroups: [14] },
    ike: [],
    esp: ["aes256gcm16-modp2048"],
  },
  {
    name: "no DH group: nothing (IKE needs one, AWS requires PFS)",
    phase: { encryption: ["AES128"], integrity: ["SHA1"], dhGroups: [] },
    ike: [],
    esp: [],
  },
];

t.test("AWS's sets → proposals", async (t) => {
  for (const c of CASES) {
    t.strictSame(ikeProposalsFor(c.phase), c.ike, `${c.name}: IKE`);
    t.strictSame(ikeProposalsFor(c.phase, 2), c.ike, `${c.name}: IKEv2 is the default`);
    t.strictSame(ikeProposalsFor(c.phase, 1), c.ikeV1 ?? c.ike, `${c.name}: IKEv1`);
    t.strictSame(espProposalsFor(c.phase), c.esp, `${c.name}: ESP`);
  }
});

t.test("DH group keywords", async (t) => {
  const expected: [number, string][] = [
    [2, "modp1024"],
    [5, "modp1536"],
    [14, "modp2048"],
    [15, "modp3072"],
    [16, "modp4096"],
    [17, "modp6144"],
    [18, "modp8192"],
    [19, "ecp256"],
    [20, "ecp384"],
    [21, "ecp521"],
    [22, "modp1024s160"],
    [23, "modp2048s224"],
    [24, "modp2048s256"],
  ];
  for (const [group, keyword] of expected) t.equal(dhGroupKeyword(group), keyword, `${group}`);
  t.same(
    [...new Set([...PHASE1_DH_GROUPS, ...PHASE2_DH_GROUPS])].sort((a, b) => a - b),
    expected.map(([g]) => g),
    "every group AWS accepts has a keyword",
  );
  t.throws(() => dhGroupKeyword(1), /group 1 /);
  t.throws(() => espProposalsFor({ encryption: ["AES128"], integrity: ["SHA1"], dhGroups: [31] }));
});

/** Non-empty, duplicate-free subsets in random order: AWS's lists as the schema takes them. */
const subset = <T>(all: readonly T[]) =>
  fc.uniqueArray(fc.constantFrom(...all), { minLength: 1, maxLength: all.length });

const phaseSets = (groups: readonly number[]) =>
  fc.record({
    encryption: subset(ENCRYPTION_ALGORITHMS),
    integrity: subset(INTEGRITY_ALGORITHMS),
    dhGroups: subset(groups),
  });

/** What checkProposal calls weak (SHA-1, MODP under 2048 bits, small-subgroup MODP). */
const WEAK_INPUT = new Set<string | number>(["SHA1", 2, 5, 22, 23, 24]);

t.test("every proposal passes the agent's own checker", async (t) => {
  const passes = (protocol: "ike" | "esp", proposals: string[], p: PhaseSets) => {
    const weakInput = [...p.integrity, ...p.dhGroups].some((v) => WEAK_INPUT.has(v));
    return proposals.every((proposal) => {
      if (checkProposal(protocol, proposal, true).length > 0) return false;
      // Without allowWeak the only objection is weakness, and only where AWS's set is weak.
      const strict = checkProposal(protocol, proposal, false);
      return (
        strict.every((problem) => problem.rule === "weak-proposal") &&
        (weakInput || strict.length === 0)
      );
    });
  };
  fc.assert(
    fc.property(phaseSets(PHASE1_DH_GROUPS), fc.constantFrom(1 as const, 2 as const), (p, v) => {
      const ike = ikeProposalsFor(p, v);
      const hasCbc = p.encryption.some((e) => !e.includes("GCM"));
      return passes("ike", ike, p) && ike.length > 0 === (v === 2 || hasCbc);
    }),
  );
  fc.assert(
    fc.property(phaseSets(PHASE2_DH_GROUPS), (p) => {
      const esp = espProposalsFor(p);
      return passes("esp", esp, p) && esp.length >= 1 && esp.length <= 2;
    }),
  );
  t.pass("checked");
});

const CIPHER: Record<string, string> = {
  AES128: "aes128",
  AES256: "aes256",
  "AES128-GCM-16": "aes128gcm16",
  "AES256-GCM-16": "aes256gcm16",
};

/** Whether `sub` holds the items of `all` that it shares with it, in `all`'s order. */
const keepsOrder = (sub: string[], all: string[]) => {
  const shared = all.filter((x) => sub.includes(x));
  return JSON.stringify(sub.filter((x) => all.includes(x))) === JSON.stringify(shared);
};

t.test("every listed algorithm is offered, in AWS's order", async (t) => {
  fc.assert(
    fc.property(phaseSets(PHASE2_DH_GROUPS), (p) => {
      const proposals = espProposalsFor(p).map((x) => x.split("-"));
      const ciphers = p.encryption.map((e) => CIPHER[e] as string);
      const groups = p.dhGroups.map(dhGroupKeyword);
      const offered = new Set(proposals.flat());
      return (
        ciphers.every((c) => offered.has(c)) &&
        proposals.every(
          (tokens) =>
            keepsOrder(tokens, ciphers) &&
            JSON.stringify(tokens.slice(-groups.length)) === JSON.stringify(groups),
        ) &&
        // The proposals in the order of their first cipher in AWS's list.
        keepsOrder(
          proposals.map((tokens) => tokens[0] as string),
          ciphers,
        )
      );
    }),
  );
  t.pass("checked");
});
