import { readFile } from "node:fs/promises";
import { isAbsolute } from "node:path";
import fc from "fast-check";
import t, { type Test } from "tap";
import { tunnelSchema } from "../../common/agent-config/schema.ts";
import { ipFamily, parseCidr } from "../../common/cidr.ts";
import { parseAgentUrl } from "../../control-plane/src/fleet/schema.ts";

/**
 * The generated JSON Schemas (docs/*.schema.json) carry patterns for addresses, CIDRs, paths,
 * identities, EC2 ids and agent URLs, so that an editor refuses what the loader refuses. Each
 * pattern is compiled from the file as an editor would (ECMA-262, unicode mode) and held to
 * accept/refuse tables and to the code the loader runs.
 */

// biome-ignore lint/suspicious/noExplicitAny: JSON Schema documents are walked by path.
type Json = any;

const load = async (name: string): Promise<Json> =>
  JSON.parse(await readFile(new URL(`../../docs/${name}`, import.meta.url), "utf8"));
const agent = await load("agent-config.schema.json");
const fleet = await load("fleet-config.schema.json");

/**
 * The pattern at a path of property names ("items" steps into arrays, "oneOf.N" into the Nth
 * alternative), as a RegExp.
 */
function pattern(schema: Json, path: string): RegExp {
  const node = path.split(".").reduce((n, key) => {
    if (key === "items" || key === "oneOf") return n[key];
    if (/^\d+$/.test(key)) return n[Number(key)];
    if (key === "*") return n.additionalProperties;
    return n.properties[key];
  }, schema);
  if (typeof node?.pattern !== "string") throw new Error(`no pattern at ${path}`);
  return new RegExp(node.pattern, "u");
}

const IP = pattern(agent, "appliance.localAddress");
const CIDR = pattern(agent, "tunnels.items.oneOf.0.localSubnets.items");
const PATH = pattern(agent, "stateDir");
const ID = pattern(agent, "tunnels.items.oneOf.0.localId");
const AGENT_URL = pattern(fleet, "appliances.items.agent");

t.test("every pattern in both schemas compiles as ECMA-262 in unicode mode", async (t) => {
  const all: string[] = [];
  const walk = (n: Json): void => {
    if (Array.isArray(n)) n.forEach(walk);
    else if (n && typeof n === "object") {
      if (typeof n.pattern === "string") all.push(n.pattern);
      Object.values(n).forEach(walk);
    }
  };
  walk(agent);
  walk(fleet);
  t.ok(all.length > 40);
  for (const p of all) t.doesNotThrow(() => new RegExp(p, "u"), p.slice(0, 40));
});

t.test("the same patterns in both files, and wherever the type is used", async (t) => {
  t.same(pattern(fleet, "vpcs.items.cidrs.items"), CIDR);
  t.same(pattern(fleet, "tls.key"), PATH);
  t.same(pattern(agent, "tunnels.items.oneOf.0.remoteAddress"), IP);
  t.same(pattern(agent, "paths.items.target"), IP);
  t.same(pattern(agent, "tunnels.items.oneOf.0.remoteId"), ID);
  t.same(pattern(agent, "api.listen.tls.key"), PATH);
});

/** Both the pattern and the loader's code give each entry of the table its verdict. */
function agree(
  t: Test,
  table: [string, boolean][],
  re: RegExp,
  loader: (text: string) => boolean,
): void {
  for (const [text, ok] of table) {
    t.equal(re.test(text), ok, `pattern: ${JSON.stringify(text)}`);
    t.equal(loader(text), ok, `loader: ${JSON.stringify(text)}`);
  }
}

const IPS: [string, boolean][] = [
  ["10.1.0.10", true],
  ["0.0.0.0", true],
  ["255.255.255.255", true],
  ["10.1.0.300", false],
  ["10.1.0", false],
  ["10.01.0.1", false],
  [" 10.1.0.1", false],
  ["2001:db8::1", true],
  ["::", true],
  ["::ffff:10.1.0.1", true],
  ["fe80::1%eth0", false],
  ["2001:db8:::1", false],
  ["2001:db8::g", false],
  ["1:2:3:4:5:6:7:8:9", false],
  ["localhost", false],
  ["", false],
];

t.test("IP: the pattern accepts exactly what the loader accepts", async (t) => {
  agree(t, IPS, IP, (text) => ipFamily(text) !== undefined);
  const alphabet = fc.constantFrom(..."0123456789abcdefABCDEF.:%g".split(""));
  fc.assert(
    fc.property(
      fc.oneof(
        fc.ipV4(),
        fc.ipV6(),
        fc.ipV4Extended(),
        fc.string({ unit: alphabet, maxLength: 24 }),
      ),
      (text) => IP.test(text) === (ipFamily(text) !== undefined),
    ),
    { numRuns: 5000 },
  );
});

/** The loader's verdict on shape: host bits are beyond a pattern, so they count as shape-valid. */
const cidrShapeOk = (text: string) => {
  const r = parseCidr(text);
  return r.ok || r.reason.startsWith("host bits");
};

t.test("CIDR: the pattern bounds the prefix and the octets as the loader does", async (t) => {
  const table: [string, boolean][] = [
    ["10.1.0.0/16", true],
    ["10.1.0.0/32", true],
    ["0.0.0.0/0", true],
    ["10.1.0.0/08", true],
    ["10.1.0.0/33", false],
    ["10.1.0.0/", false],
    ["10.1.0.0", false],
    ["10.1.0.256/24", false],
    ["300.1.0.0/8", false],
    ["10.1.0.0/-1", false],
    ["10.1.0.0/0032", false],
    ["2001:db8::/32", true],
    ["::/0", true],
    ["2001:db8::/128", true],
    ["2001:db8::/129", false],
    ["fe80::%eth0/64", false],
  ];
  agree(t, table, CIDR, cidrShapeOk);
  // Every prefix text of one to four digits, against both families.
  for (let n = 0; n < 10000; n++) {
    for (const digits of new Set([
      String(n),
      String(n).padStart(2, "0"),
      String(n).padStart(3, "0"),
    ])) {
      if (digits.length > 4) continue;
      for (const base of ["0.0.0.0", "::"]) {
        const text = `${base}/${digits}`;
        if (CIDR.test(text) !== cidrShapeOk(text)) t.fail(`disagree on ${text}`);
      }
    }
  }
  fc.assert(
    fc.property(
      fc.oneof(fc.ipV4(), fc.ipV6()),
      fc.string({ unit: fc.constantFrom(..."0123456789".split("")), minLength: 1, maxLength: 4 }),
      (ip, prefix) => CIDR.test(`${ip}/${prefix}`) === cidrShapeOk(`${ip}/${prefix}`),
    ),
    { numRuns: 5000 },
  );
});

t.test(
  "localId and remoteId: the pattern refuses quotes and backslashes, as the CLI does",
  async (t) => {
    const localId = tunnelSchema.shape.localId;
    const table: [string, boolean][] = [
      ["a1.example", true],
      ["CN=a1,O=x", true],
      ["user@a1.example", true],
      ["198.51.100.10", true],
      ['a"1', false],
      ["a\\1", false],
      ["a 1", false],
      ["a\t1", false],
      ["ä1", false],
      ["", false],
    ];
    agree(t, table, ID, (text) => localId.safeParse(text).success);
    fc.assert(
      fc.property(fc.string({ unit: "binary-ascii", minLength: 1, maxLength: 12 }), (text) => {
        return ID.test(text) === localId.safeParse(text).success;
      }),
      { numRuns: 5000 },
    );
  },
);

t.test("absolute paths and agent URLs", async (t) => {
  const paths: [string, boolean][] = [
    ["/etc/swanpair/psk/to-b1", true],
    ["etc/swanpair", false],
    ["./psk", false],
    ["", false],
  ];
  agree(t, paths, PATH, isAbsolute);
  const urls: [string, boolean][] = [
    ["unix:///run/swanpair/a1/agent.sock", true],
    ["https://10.1.1.10:7443", true],
    ["https://agent-a1.example:443/", true],
    ["https://10.1.1.10:65535", true],
    ["https://10.1.1.10:65536", false],
    ["https://10.1.1.10:0", false],
    ["https://10.1.1.10", false],
    ["http://10.1.1.10:7443", false],
    ["https://user@10.1.1.10:7443", false],
    ["https://10.1.1.10:7443/v1", false],
    ["https://10.1.1.10:7443?x=1", false],
    ["unix://run/a.sock", false],
    ["/run/a.sock", false],
  ];
  agree(t, urls, AGENT_URL, (text) => parseAgentUrl(text).ok);
  const ec2 = pattern(fleet, "appliances.items.instanceId");
  t.ok(ec2.test("i-0123456789abcdef0"));
  t.notOk(ec2.test("i-0123456789ABCDEF0"), "uppercase hex");
  t.notOk(ec2.test("vpc-0123"), "another resource's prefix");
});
