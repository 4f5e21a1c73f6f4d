import type { LabPlan, LabVpc } from "./plan.ts";
import { labRoutes, labTunnels } from "./routes.ts";
import { FLEET_TAG_KEY } from "./topology/names.ts";

/**
 * `swanpair lab deploy --dry-run`: what deploy would make, in words, from the plan alone. Pure;
 * touches neither Docker nor moto.
 */
export function labDryRun(plan: LabPlan): string {
  const central = plan.controller.mode === "central";
  const out = [
    `lab ${plan.lab}: region ${plan.region}, controller ${central ? "central" : "co-located on every appliance"}`,
    "",
    "networks (the machine holds the last usable address of each)",
    ...table([
      [plan.internet.network, plan.internet.cidr, `machine ${plan.internet.hostAddress}`],
      ...plan.vpcs.map((v) => [v.network, v.cidr, `machine ${v.hostAddress}`]),
    ]),
    "",
    "containers",
    ...table(containers(plan)),
    "",
    `EC2 (moto) in ${plan.region}`,
    ...plan.vpcs.flatMap((v) => ec2Lines(plan, v)),
    "",
    "connections (tunnels: * carries while nothing has failed)",
    ...plan.connections.map((c) => {
      const tunnels = labTunnels(plan)
        .filter((t) => t.connection === c.name)
        .map((t) => `${t.ends[0].name}-${t.ends[1].name}${t.carries ? "*" : ""}`);
      const pairs = c.between.map((name) => plan.vpcs.find((v) => v.name === name)?.pair.name);
      return `  ${c.name}: ${pairs.join(" <-> ")}, tunnels ${tunnels.join(" ")}`;
    }),
    "",
    `failover: ${fields(plan.failover)}`,
    `routers: ${fields(plan.router)}`,
    `traffic: ${plan.traffic.ratePps} packets/s per host to port ${plan.traffic.port}`,
  ];
  return `${out.join("\n")}\n`;
}

function containers(plan: LabPlan): string[][] {
  const rows: string[][] = [];
  for (const v of plan.vpcs) {
    const gateways = v.subnets.map((s) => `${s.gateway} (${s.name})`).join(", ");
    rows.push([
      v.router.container,
      "router",
      `internet ${v.router.internetAddress}; ${v.name} ${gateways}`,
    ]);
    for (const a of v.appliances) {
      const preferred = a.name === v.pair.preferred ? `, preferred in ${v.pair.name}` : "";
      rows.push([
        a.container,
        "appliance",
        `${v.name} ${a.address} + path ${a.pathSource} in ${a.subnet} (${a.az}), Elastic IP ${a.public}${preferred}`,
      ]);
    }
    for (const h of v.hosts) {
      rows.push([
        h.container,
        "host",
        `${v.name} ${h.address} in ${h.subnet}, gateway ${h.gateway}`,
      ]);
    }
  }
  const c = plan.controller;
  if (c.mode === "central") {
    const legs = Object.entries(c.vpcAddresses).map(([vpc, ip]) => `${vpc} ${ip}`);
    rows.push([
      c.node.container,
      "controller",
      [`internet ${c.internetAddress}`, ...legs].join("; "),
    ]);
  }
  return rows;
}

function ec2Lines(plan: LabPlan, v: LabVpc): string[] {
  const routes = labRoutes(plan, v).map((r) =>
    r.target === "internet-gateway"
      ? `${r.destination} -> internet gateway`
      : `${r.destination} -> ${r.appliance.name}'s ENI (${r.connection})`,
  );
  const instances = [
    ...v.appliances.map(
      (a) =>
        `${a.name} ${a.address} + ${a.pathSource}, Elastic IP ${a.public}, source/dest check off`,
    ),
    ...v.hosts.map((h) => `${h.name} ${h.address}`),
  ];
  return [
    `  VPC ${v.name} ${v.cidr}, internet gateway attached`,
    `    subnets: ${v.subnets.map((s) => `${s.name} ${s.cidr} (${s.az})`).join(", ")}`,
    `    route table tagged ${FLEET_TAG_KEY}=${plan.lab}, associated with every subnet:`,
    ...routes.map((r) => `      ${r}`),
    "    instances (tag Name = container):",
    ...instances.map((i) => `      ${i}`),
  ];
}

/** Columns padded to their widest cell, the last one free. */
function table(rows: string[][]): string[] {
  const widths = rows.reduce<number[]>(
    (w, row) => row.map((cell, i) => Math.max(w[i] ?? 0, cell.length)),
    [],
  );
  return rows.map(
    (row) =>
      `  ${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ")}`,
  );
}

function fields(record: object): string {
  return Object.entries(record)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
}
