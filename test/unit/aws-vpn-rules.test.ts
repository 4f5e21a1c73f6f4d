import t, { type Test } from "tap";
import {
  asnProblem,
  dpdTimeoutProblem,
  encryptionProblem,
  holdTimeProblem,
  ikeModeProblem,
  ikeVersionProblem,
  insideAddressesProblem,
  insideCidrProblem,
  integrityProblem,
  phase1DhGroupProblem,
  phase1LifetimeProblem,
  phase2DhGroupProblem,
  phase2LifetimeProblem,
  pskProblem,
  RESERVED_INSIDE_CIDRS,
} from "../../common/aws-vpn/rules.ts";

/** AWS's rules, each a table of good and bad values with the boundaries on both sides. */

type Case<T> = [T, RegExp | undefined];

function table<T>(t: Test, check: (v: T) => string | undefined, cases: Case<T>[]) {
  for (const [value, expected] of cases) {
    const problem = check(value);
    if (expected === undefined) t.equal(problem, undefined, `${String(value)} is accepted`);
    else t.match(problem ?? "(accepted)", expected, `${String(value)} is refused`);
  }
}

t.test("pre-shared key: 8-64 of [A-Za-z0-9._], not starting with 0", async (t) => {
  table(t, pskProblem, [
    ["abcdefgh", undefined],
    ["A".repeat(64), undefined],
    ["Key.with_dots.and_underscores9", undefined],
    ["10000000", undefined],
    ["abcdefg", /7 characters long; AWS requires 8 to 64/],
    ["A".repeat(65), /65 characters long/],
    ["", /0 characters/],
    ["0abcdefgh", /starts with "0"/],
    ["abcd-efgh", /position 5/],
    ["abcd efgh", /position 5/],
    ["abcdéfgh", /position 5/],
    ["abcdefg/", /position 8/],
  ]);
  const secret = "Zz9.secret_that-leaks";
  t.notMatch(pskProblem(secret) ?? "", /secret/, "the message never quotes the key");
});

t.test("inside CIDR: a /30 in 169.254.0.0/16, not reserved", async (t) => {
  table(t, insideCidrProblem, [
    ["169.254.10.0/30", undefined],
    ["169.254.6.0/30", undefined],
    ["169.254.255.252/30", undefined],
    ["169.254.169.248/30", undefined],
    ["169.254.10.0/29", /must be a \/30/],
    ["169.254.10.0/31", /must be a \/30/],
    ["169.254.10.1/30", /host bits/],
    ["10.0.0.0/30", /not inside 169\.254\.0\.0\/16/],
    ["169.255.0.0/30", /not inside/],
    ["169.253.255.252/30", /not inside/],
    ["fd00::/126", /must be a \/30/],
    ["nonsense", /invalid inside CIDR/],
    ...RESERVED_INSIDE_CIDRS.map((c): Case<string> => [c, /reserved by AWS/]),
  ]);
  t.same(
    [...RESERVED_INSIDE_CIDRS],
    [
      "169.254.0.0/30",
      "169.254.1.0/30",
      "169.254.2.0/30",
      "169.254.3.0/30",
      "169.254.4.0/30",
      "169.254.5.0/30",
      "169.254.169.252/30",
    ],
    "the reserved list is AWS's",
  );
});

t.test("inside addresses: two distinct host addresses of the /30", async (t) => {
  const check = ([c, l, r]: [string, string, string]) => insideAddressesProblem(c, l, r);
  table(t, check, [
    [["169.254.10.0/30", "169.254.10.2", "169.254.10.1"], undefined],
    [["169.254.10.0/30", "169.254.10.1", "169.254.10.2"], undefined],
    [["169.254.10.0/30", "169.254.10.0", "169.254.10.1"], /network or broadcast/],
    [["169.254.10.0/30", "169.254.10.2", "169.254.10.3"], /network or broadcast/],
    [["169.254.10.0/30", "169.254.10.2", "169.254.10.2"], /same inside address/],
    [["169.254.10.0/30", "169.254.10.6", "169.254.10.1"], /not in the tunnel's inside CIDR/],
    [["169.254.10.0/30", "fe80::1", "169.254.10.1"], /not an IPv4/],
  ]);
});

t.test("IKE versions and mode", async (t) => {
  table(t, ikeVersionProblem, [
    ["ikev1", undefined],
    ["ikev2", undefined],
    ["ikev3", /not one AWS accepts \(ikev1, ikev2\)/],
    ["IKEv2", /not one AWS accepts/],
  ]);
  table(t, ikeModeProblem, [
    ["main", undefined],
    ["aggressive", /main mode only/],
  ]);
});

t.test("encryption and integrity algorithms", async (t) => {
  table(t, encryptionProblem, [
    ["AES128", undefined],
    ["AES256", undefined],
    ["AES128-GCM-16", undefined],
    ["AES256-GCM-16", undefined],
    ["3DES", /not one AWS accepts/],
    ["AES192", /AES128, AES256, AES128-GCM-16, AES256-GCM-16/],
    ["aes128", /not one AWS accepts/],
  ]);
  table(t, integrityProblem, [
    ["SHA1", undefined],
    ["SHA2-256", undefined],
    ["SHA2-384", undefined],
    ["SHA2-512", undefined],
    ["MD5", /not one AWS accepts/],
    ["SHA2-224", /not one AWS accepts/],
  ]);
});

t.test("Diffie-Hellman groups: phase 2 also takes 5", async (t) => {
  table(t, phase1DhGroupProblem, [
    [2, undefined],
    [14, undefined],
    [24, undefined],
    [1, /phase 1 Diffie-Hellman group 1/],
    [5, /not one AWS accepts/],
    [13, /not one AWS accepts/],
    [25, /not one AWS accepts/],
    [31, /not one AWS accepts/],
  ]);
  table(t, phase2DhGroupProblem, [
    [2, undefined],
    [5, undefined],
    [14, undefined],
    [24, undefined],
    [1, /phase 2 Diffie-Hellman group 1/],
    [13, /not one AWS accepts/],
    [25, /not one AWS accepts/],
  ]);
});

t.test("lifetimes: phase 1 900-28800 s, phase 2 900-3600 s and below phase 1", async (t) => {
  table(t, phase1LifetimeProblem, [
    [900, undefined],
    [28_800, undefined],
    [899, /outside 900-28800/],
    [28_801, /outside 900-28800/],
    [3600.5, /outside/],
  ]);
  table(t, (s: number) => phase2LifetimeProblem(s), [
    [900, undefined],
    [3600, undefined],
    [899, /outside 900-3600/],
    [3601, /outside 900-3600/],
  ]);
  t.equal(phase2LifetimeProblem(900, 901), undefined);
  t.match(phase2LifetimeProblem(900, 900), /less than the phase 1 lifetime 900 s/);
  t.match(phase2LifetimeProblem(3600, 1000), /less than the phase 1 lifetime/);
});

t.test("DPD timeout at least 30 s", async (t) => {
  table(t, dpdTimeoutProblem, [
    [30, undefined],
    [40, undefined],
    [3600, undefined],
    [29, /below 30 s/],
    [0, /below 30 s/],
  ]);
});

t.test("BGP ASN and hold time", async (t) => {
  table(t, asnProblem, [
    [1, undefined],
    [64_512, undefined],
    [7224, undefined],
    [4_294_967_294, undefined],
    [0, /not an AS number/],
    [4_294_967_295, /not an AS number/],
    [65000.5, /not an AS number/],
  ]);
  table(t, holdTimeProblem, [
    [0, undefined],
    [3, undefined],
    [30, undefined],
    [65_535, undefined],
    [1, /0 or 3-65535/],
    [2, /0 or 3-65535/],
    [65_536, /0 or 3-65535/],
  ]);
});
