import t from "tap";
import { type Cidr, cidrContains, cidrsOverlap, parseCidr } from "../../common/cidr.ts";

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

t.test("overlap and containment", async (t) => {
  t.ok(cidrsOverlap(must("10.0.0.0/8"), must("10.2.0.0/16")));
  t.notOk(cidrsOverlap(must("10.1.0.0/16"), must("10.2.0.0/16")));
  t.notOk(cidrsOverlap(must("10.1.0.0/16"), must("2001:db8::/32")));
  t.ok(cidrsOverlap(must("0.0.0.0/0"), must("192.0.2.0/24")));
  t.ok(cidrContains(must("10.2.0.0/16"), "10.2.0.20"));
  t.notOk(cidrContains(must("10.2.0.0/16"), "10.3.0.20"));
  t.notOk(cidrContains(must("10.2.0.0/16"), "2001:db8::1"));
});
