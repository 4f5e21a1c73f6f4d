import t from "tap";
import { stringify } from "yaml";
import { loadConfigText } from "../../agent/src/config/load.ts";
import {
  type Cidr,
  cidrContains,
  cidrsOverlap,
  cidrWithin,
  ipProblem,
  ipToBigInt,
  parseCidr,
} from "../../common/cidr.ts";
import { baseTree } from "../fixtures/invalid-configs.ts";

function must(text: string): Cidr {
  const r = parseCidr(text);
  if (!r.ok) throw new Error(r.reason);
  return r.cidr;
}

t.test("parses and canonicalises", async (t) => {
  t.equal(must("10.1.0.0/16").text, "10.1.0.0/16");
  t.equal(must("2001:db8:0:0::/64").text, "2001:db8::/64");
  t.equal(must("::ffff:10.0.0.0/104").text, "::ffff:a00:0/104");
});

t.test("rejects bad input with a reason", async (t) => {
  const cases: [string, RegExp][] = [
    ["10.1.0.0", /address\/prefix/],
    ["10.1.0.0/33", /0-32/],
    ["10.1.0.1/16", /did you mean 10\.1\.0\.0\/16/],
    ["10.1.0.256/24", /not an IPv4/],
    ["2001:db8::/129", /0-128/],
    ["10.1.0.0/-1", /prefix/],
  ];
  for (const [text, re] of cases) {
    const r = parseCidr(text);
    t.equal(r.ok, false, text);
    if (!r.ok) t.match(r.reason, re, text);
  }
});

t.test("a block within another", async (t) => {
  t.ok(cidrWithin(must("10.1.1.0/24"), must("10.1.0.0/16")));
  t.ok(cidrWithin(must("10.1.0.0/16"), must("10.1.0.0/16")), "a block is within itself");
  t.notOk(cidrWithin(must("10.0.0.0/8"), must("10.1.0.0/16")), "not the larger in the smaller");
  t.notOk(cidrWithin(must("10.2.0.0/24"), must("10.1.0.0/16")));
  t.notOk(cidrWithin(must("2001:db8::/64"), must("10.0.0.0/8")), "not across families");
});

t.test("overlap and containment", async (t) => {
  t.ok(cidrsOverlap(must("10.0.0.0/8"), must("10.2.0.0/16")));
  t.notOk(cidrsOverlap(must("10.1.0.0/16"), must("10.2.0.0/16")));
  t.notOk(cidrsOverlap(must("10.1.0.0/16"), must("2001:db8::/32")));
  t.ok(cidrsOverlap(must("0.0.0.0/0"), must("192.0.2.0/24")));
  t.ok(cidrContains(must("10.2.0.0/16"), "10.2.0.20"));
  t.notOk(cidrContains(must("10.2.0.0/16"), "10.3.0.20"));
  t.notOk(cidrContains(must("10.2.0.0/16"), "2001:db8::1"));
});

t.test(
  "an IPv6 zone id is refused with a reason that names it, never by an exception",
  async (t) => {
    const cases: [string, string][] = [
      ["fe80::%eth0/64", "%eth0"],
      ["fe80::1%eth0/128", "%eth0"],
      ["fe80::%1/64", "%1"],
      ["::ffff:10.0.0.0%eth0/104", "%eth0"],
    ];
    for (const [text, zone] of cases) {
      const r = parseCidr(text);
      t.match(r, { ok: false, reason: `has a zone id ("${zone}")` }, text);
    }
    t.match(ipProblem("fe80::1%eth0"), /^"fe80::1%eth0" has a zone id \("%eth0"\)/);
    t.match(ipProblem("10.0.0.1%eth0"), /is not an IPv4 or IPv6 address/, "not IPv6 at all");
    t.throws(() => ipToBigInt("fe80::1%eth0"), { name: "Error", message: /not an IP address/ });
  },
);

t.test("the agent config refuses zone ids at their field paths", async (t) => {
  const tree = baseTree();
  // Absolute, so that the zone ids are the only issues; refused shapes stop before any read.
  tree.tunnels[0].psk.file = "/etc/swanpair/psk/to-b1";
  tree.tunnels[0].remoteAddress = "fe80::1%eth0";
  tree.tunnels[0].remoteSubnets = ["fe80::%eth0/64"];
  const r = await loadConfigText(stringify(tree));
  t.match(r, {
    ok: false,
    issues: [
      { path: "tunnels[0].remoteAddress", rule: "format", message: /zone id \("%eth0"\)/ },
      { path: "tunnels[0].remoteSubnets[0]", rule: "format", message: /zone id \("%eth0"\)/ },
    ],
  });
});
