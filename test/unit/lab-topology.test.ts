import { readFile } from "node:fs/promises";
import t, { type Test } from "tap";
import { cidrContains, ipToBigInt, parseCidr } from "../../common/cidr.ts";
import { formatIssue, formatLoadResult } from "../../common/yaml-config.ts";
import type { LabPlan } from "../../control-plane/src/lab/plan.ts";
import { loadLabText } from "../../control-plane/src/lab/topology/load.ts";
import { renderLabSchema } from "../../scripts/gen-schema.ts";
import { invalidLabs, LAB_FILES, LAB_NAMES, labPlan } from "../fixtures/labs.ts";
import { pageExamples } from "../helpers/doc-examples.ts";

/**
 * The lab topology loader: the default lab's plan in full, the rules every plan keeps, the
 * defaults, and each invalid topology refused with its field path, message and rule.
 */

const must = (text: string) => {
  const r = parseCidr(text);
  if (!r.ok) throw new Error(text);
  return r.cidr;
};

t.test("the default lab: names, addresses and zones", async (t) => {
  const plan = await labPlan("default");
  t.match(plan, {
    lab: "demo",
    prefix: "swanpair-demo",
    region: "eu-west-1",
    internet: {
      network: "swanpair-demo-internet",
      cidr: "198.18.0.0/24",
      hostAddress: "198.18.0.254",
    },
    controller: {
      mode: "central",
      node: { name: "controller", container: "swanpair-demo-controller" },
      internetAddress: "198.18.0.50",
      vpcAddresses: { a: "10.1.255.253", b: "10.2.255.253" },
    },
    failover: { intervalMs: 200, fall: 2, rise: 2, holdDownMs: 5000, preempt: false },
    router: { pollMs: 200, followDelayMs: 0 },
    traffic: { ratePps: 50, port: 5201 },
    connections: [{ name: "a-b", between: ["a", "b"] }],
  });
  const [a] = plan.vpcs;
  t.same(a, {
    name: "a",
    cidr: "10.1.0.0/16",
    network: "swanpair-demo-a",
    hostAddress: "10.1.255.254",
    subnets: [
      { name: "appliances-a", cidr: "10.1.1.0/25", gateway: "10.1.1.1", az: "eu-west-1a" },
      { name: "appliances-b", cidr: "10.1.1.128/25", gateway: "10.1.1.129", az: "eu-west-1b" },
      { name: "workloads", cidr: "10.1.2.0/24", gateway: "10.1.2.1", az: "eu-west-1a" },
    ],
    router: {
      name: "a-router",
      container: "swanpair-demo-a-router",
      internetAddress: "198.18.0.1",
    },
    pair: { name: "a-pair", preferred: "a1" },
    appliances: [
      {
        name: "a1",
        container: "swanpair-demo-a1",
        subnet: "appliances-a",
        address: "10.1.1.10",
        gateway: "10.1.1.1",
        public: "198.18.0.100",
        pathSource: "10.1.1.11",
        az: "eu-west-1a",
      },
      {
        name: "a2",
        container: "swanpair-demo-a2",
        subnet: "appliances-b",
        address: "10.1.1.138",
        gateway: "10.1.1.129",
        public: "198.18.0.101",
        pathSource: "10.1.1.139",
        az: "eu-west-1b",
      },
    ],
    hosts: [
      {
        name: "ha",
        container: "swanpair-demo-ha",
        subnet: "workloads",
        address: "10.1.2.10",
        gateway: "10.1.2.1",
      },
    ],
  });
  t.equal(plan.vpcs[1]?.appliances[1]?.public, "198.18.0.103", "Elastic IPs in file order");
});

/** The rules every plan keeps, whatever its file says. */
function checkPlan(t: Test, name: string, plan: LabPlan) {
  const containers = [
    ...plan.vpcs.flatMap((v) => [v.router, ...v.appliances, ...v.hosts]),
    ...(plan.controller.mode === "central" ? [plan.controller.node] : []),
  ].map((n) => n.container);
  t.equal(new Set(containers).size, containers.length, `${name}: container names are unique`);
  for (const c of containers) {
    t.ok(c.startsWith(`${plan.prefix}-`) && c.length <= 63, `${name}: ${c} is prefixed and fits`);
  }
  const last = (cidr: string) => {
    const c = must(cidr);
    return c.network + (1n << BigInt(32 - c.prefix)) - 2n;
  };
  t.equal(ipToBigInt(plan.internet.hostAddress), last(plan.internet.cidr), `${name}: machine last`);
  const internet = [
    plan.internet.hostAddress,
    ...plan.vpcs.map((v) => v.router.internetAddress),
    ...plan.vpcs.flatMap((v) => v.appliances.map((a) => a.public)),
    ...(plan.controller.mode === "central" ? [plan.controller.internetAddress] : []),
  ];
  t.equal(new Set(internet).size, internet.length, `${name}: internet addresses are unique`);
  for (const ip of internet)
    t.ok(cidrContains(must(plan.internet.cidr), ip), `${ip} on the internet`);
  for (const v of plan.vpcs) {
    t.equal(
      ipToBigInt(v.hostAddress),
      last(v.cidr),
      `${name}/${v.name}: machine at the last usable`,
    );
    t.equal(v.appliances.length, 2, `${name}/${v.name}: a pair`);
    const onVpc = [
      v.hostAddress,
      ...v.subnets.map((s) => s.gateway),
      ...v.appliances.flatMap((a) => [a.address, a.pathSource]),
      ...v.hosts.map((h) => h.address),
      ...Object.entries(plan.controller.vpcAddresses)
        .filter(([vpc]) => vpc === v.name)
        .map(([, ip]) => ip),
    ];
    t.equal(new Set(onVpc).size, onVpc.length, `${name}/${v.name}: addresses are unique`);
    for (const n of [...v.appliances, ...v.hosts]) {
      const subnet = v.subnets.find((s) => s.name === n.subnet);
      const cidr = must(subnet?.cidr ?? "");
      t.ok(cidrContains(cidr, n.address), `${n.name} in ${subnet?.name}`);
      t.equal(n.gateway, subnet?.gateway, `${n.name}: its subnet's gateway`);
      t.ok(ipToBigInt(n.address) - cidr.network >= 10n, `${n.name}: from the 10th address on`);
    }
    for (const a of v.appliances) {
      t.ok(
        cidrContains(must(v.subnets.find((s) => s.name === a.subnet)?.cidr ?? ""), a.pathSource),
      );
      t.equal(a.az, v.subnets.find((s) => s.name === a.subnet)?.az, `${a.name}: its subnet's zone`);
    }
    t.not(v.appliances[0]?.az, v.appliances[1]?.az, `${name}/${v.name}: the pair spans two zones`);
  }
}

t.test("every valid lab loads without a warning and keeps the plan's rules", async (t) => {
  for (const name of LAB_NAMES) {
    const loaded = loadLabText(await readFile(LAB_FILES[name], "utf8"));
    t.same(formatLoadResult(name, loaded), [], `${name}: no error, no warning`);
    if (loaded.ok) checkPlan(t, name, loaded.plan);
  }
});

t.test("co-located: no controller address on any VPC network", async (t) => {
  const plan = await labPlan("colocated");
  t.equal(plan.controller.mode, "colocated");
  t.same(plan.controller.vpcAddresses, {});
});

t.test("the smallest file takes every default", async (t) => {
  const loaded = loadLabText(`name: tiny
vpcs:
  - name: x
    cidr: 10.9.0.0/24
    subnets: [{ name: s, cidr: 10.9.0.0/28 }]
    appliances: [{ name: x1, subnet: s }, { name: x2, subnet: s }]
`);
  t.ok(loaded.ok);
  if (!loaded.ok) return;
  t.same(
    loaded.warnings.map((w) => formatIssue(undefined, w, "warning")),
    [
      "vpcs[0].appliances[1].subnet: warning: x2 and x1 are both in zone a; put them in subnets of two zones, so that the pair survives the loss of one [same-az]",
      "vpcs[0]: warning: VPC x is in no connection; no traffic crosses its pair [unused]",
    ],
  );
  const { plan } = loaded;
  t.match(plan, {
    region: "eu-west-1",
    internet: { cidr: "198.18.0.0/24" },
    controller: { mode: "central" },
    failover: { intervalMs: 200, fall: 2, rise: 2, holdDownMs: 5000, preempt: false },
    router: { pollMs: 200, followDelayMs: 0 },
    traffic: { ratePps: 50, port: 5201 },
    connections: [],
  });
  t.same(
    plan.vpcs[0]?.appliances.map((a) => [a.address, a.pathSource, a.az]),
    [
      ["10.9.0.10", "10.9.0.11", "eu-west-1a"],
      ["10.9.0.12", "10.9.0.13", "eu-west-1a"],
    ],
  );
  t.equal(plan.vpcs[0]?.hostAddress, "10.9.0.254");
});

t.test("a subnet at the end of its VPC may not reach the machine's address", async (t) => {
  const loaded = loadLabText(`name: edge
vpcs:
  - name: x
    cidr: 10.9.0.0/27
    subnets: [{ name: a, cidr: 10.9.0.0/28, az: a }, { name: end, cidr: 10.9.0.16/28, az: b }]
    appliances: [{ name: x1, subnet: a }, { name: x2, subnet: end }]
    hosts: [{ name: h0, subnet: end }, { name: h1, subnet: end }]
`);
  t.same(formatLoadResult("lab.yml", loaded), [
    "lab.yml: vpcs[0].subnets[1].cidr: h1 would take 10.9.0.29, which is the controller's on VPC x's network; leave the end of 10.9.0.0/27 out of the subnets [capacity]",
    "lab.yml: vpcs[0]: warning: VPC x is in no connection; no traffic crosses its pair [unused]",
  ]);
});

t.test(
  "at most 49 VPCs: their routers' internet addresses stop below the controller's",
  async (t) => {
    const vpc = (n: number) => `  - name: v${n}
    cidr: 10.${n}.0.0/16
    subnets: [{ name: a, cidr: 10.${n}.1.0/24, az: a }, { name: b, cidr: 10.${n}.2.0/24, az: b }]
    appliances: [{ name: v${n}a, subnet: a }, { name: v${n}b, subnet: b }]`;
    const text = (count: number) =>
      `name: many\ninternet: { cidr: 198.18.0.0/23 }\nvpcs:\n${Array.from({ length: count }, (_, n) => vpc(n + 1)).join("\n")}\n`;
    t.ok(loadLabText(text(49)).ok, "49 VPCs fit");
    const refused = loadLabText(text(50));
    t.same(refused.ok ? [] : refused.issues.map((i) => formatIssue(undefined, i)), [
      "vpcs: 50 VPCs: their routers take the internet's addresses 1 to 49, so a lab has at most 49 VPCs [capacity]",
    ]);
  },
);

t.test("invalid topologies, each refused with its expected line", async (t) => {
  const cases = await invalidLabs();
  t.ok(cases.length >= 10, `${cases.length} invalid topologies`);
  for (const c of cases) {
    const loaded = loadLabText(c.text);
    t.equal(loaded.ok, false, `${c.file}: refused`);
    if (loaded.ok) continue;
    const lines = loaded.issues.map((i) => formatIssue(undefined, i));
    t.equal(lines[0], c.expect, `${c.file}: ${c.expect}`);
  }
});

t.test("the lab's JSON Schema is generated and names the defaults", async (t) => {
  const schema = JSON.parse(renderLabSchema());
  t.equal(schema.title, "swanpair lab topology");
  t.same(schema.required, ["name", "vpcs"]);
  t.equal(schema.properties.region.default, "eu-west-1");
  t.equal(schema.properties.failover.properties.rise.default, 2);
  t.equal(
    await readFile(new URL("../../docs/lab-topology.schema.json", import.meta.url), "utf8"),
    renderLabSchema(),
    "docs/lab-topology.schema.json is current (node scripts/gen-schema.ts)",
  );
  t.match(
    await readFile(LAB_FILES.default, "utf8"),
    /^# yaml-language-server: \$schema=docs\/lab-topology\.schema\.json$/m,
    "the default lab points editors at it",
  );
});

t.test("the documented example is the default lab, defaults spelt out", async (t) => {
  const [example] = await pageExamples("lab-topology.md");
  const loaded = loadLabText(example?.yaml ?? "");
  t.same(loaded.ok && loaded.plan, await labPlan("default"));
});
