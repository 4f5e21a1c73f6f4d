import type { LabAppliance, LabHost, LabPlan, LabVpc } from "../plan.ts";
import { labTunnels } from "../routes.ts";

/**
 * `swanpair lab graph`: the topology as Mermaid or DOT text. Pure. One model of boxes and
 * lines, drawn by two small writers, so that the two formats cannot tell different stories.
 */

export type GraphFormat = "mermaid" | "dot";

type Shape = "box" | "router" | "cloud";
type Line = "plain" | "bold" | "dotted" | "dashed";

interface Node {
  /** Unique in the graph; node names are unique in a lab, clusters and the internet are prefixed. */
  id: string;
  lines: string[];
  shape: Shape;
}

interface Cluster {
  id: string;
  lines: string[];
  nodes: Node[];
  clusters: Cluster[];
}

interface Edge {
  from: string;
  to: string;
  /** Drawn to this cluster's border instead of `to` (which must be inside it). */
  toCluster?: string;
  label?: string;
  line: Line;
}

interface Model {
  title: string;
  nodes: Node[];
  clusters: Cluster[];
  edges: Edge[];
}

const INTERNET = "internet";
const vpcId = (vpc: string) => `vpc:${vpc}`;
const subnetId = (vpc: string, subnet: string) => `subnet:${vpc}/${subnet}`;
const nodeId = (name: string) => `node:${name}`;

export function labGraph(plan: LabPlan, format: GraphFormat): string {
  const model = labModel(plan);
  return format === "mermaid" ? mermaid(model) : dot(model);
}

function labModel(plan: LabPlan): Model {
  const central = plan.controller.mode === "central";
  const nodes: Node[] = [
    {
      id: INTERNET,
      lines: ["internet", plan.internet.cidr, `machine ${plan.internet.hostAddress}`],
      shape: "cloud",
    },
  ];
  const edges: Edge[] = [];
  if (central) {
    const c = plan.controller;
    nodes.push({ id: nodeId(c.node.name), lines: [c.node.name, c.internetAddress], shape: "box" });
    edges.push({ from: nodeId(c.node.name), to: INTERNET, line: "plain" });
  }
  for (const v of plan.vpcs) {
    edges.push({ from: nodeId(v.router.name), to: INTERNET, line: "plain" });
    const address = plan.controller.vpcAddresses[v.name];
    if (central && address !== undefined) {
      edges.push({
        from: nodeId(plan.controller.node.name),
        to: nodeId(v.router.name),
        toCluster: vpcId(v.name),
        label: address,
        line: "dashed",
      });
    }
  }
  for (const t of labTunnels(plan)) {
    const [l, r] = t.ends;
    edges.push({
      from: nodeId(l.name),
      to: nodeId(r.name),
      label: t.connection,
      line: t.carries ? "bold" : "dotted",
    });
  }
  return {
    title: `swanpair lab ${plan.lab}: ${central ? "central controller" : "controller co-located on every appliance"}; tunnels: bold carries, dotted stands by`,
    nodes,
    clusters: plan.vpcs.map((v) => vpcCluster(v, central)),
    edges,
  };
}

function vpcCluster(v: LabVpc, central: boolean): Cluster {
  const appliance = (a: LabAppliance): Node => ({
    id: nodeId(a.name),
    lines: [
      `${a.name}${a.name === v.pair.preferred ? " (preferred)" : ""}${central ? "" : " + controller"}`,
      `${a.address}, path ${a.pathSource}`,
      `EIP ${a.public}`,
    ],
    shape: "box",
  });
  const host = (h: LabHost): Node => ({
    id: nodeId(h.name),
    lines: [h.name, h.address],
    shape: "box",
  });
  return {
    id: vpcId(v.name),
    lines: [`VPC ${v.name} ${v.cidr}`, `machine ${v.hostAddress}`],
    nodes: [
      {
        id: nodeId(v.router.name),
        lines: [v.router.name, `internet ${v.router.internetAddress}`],
        shape: "router",
      },
    ],
    clusters: v.subnets.map((s) => ({
      id: subnetId(v.name, s.name),
      lines: [`${s.name} ${s.cidr}`, `${s.az}, gateway ${s.gateway}`],
      nodes: [
        ...v.appliances.filter((a) => a.subnet === s.name).map(appliance),
        ...v.hosts.filter((h) => h.subnet === s.name).map(host),
      ],
      clusters: [],
    })),
  };
}

// Mermaid ids take letters, digits and _; lab names hold no _, so these stay unique.
const mid = (id: string) => id.replace(/:/g, "_").replace(/\//g, "__").replace(/-/g, "_");

function mermaid(m: Model): string {
  const shape = (n: Node) => {
    const text = `"${n.lines.join("<br/>")}"`;
    if (n.shape === "cloud") return `((${text}))`;
    if (n.shape === "router") return `{{${text}}}`;
    return `[${text}]`;
  };
  const out = [`%% ${m.title}`, "flowchart LR"];
  const node = (n: Node, indent: string) => out.push(`${indent}${mid(n.id)}${shape(n)}`);
  const cluster = (c: Cluster, indent: string) => {
    out.push(`${indent}subgraph ${mid(c.id)}["${c.lines.join("<br/>")}"]`);
    for (const n of c.nodes) node(n, `${indent}  `);
    for (const sub of c.clusters) cluster(sub, `${indent}  `);
    out.push(`${indent}end`);
  };
  for (const n of m.nodes) node(n, "  ");
  for (const c of m.clusters) cluster(c, "  ");
  const links: Record<Line, string> = { plain: "---", bold: "===", dotted: "-.-", dashed: "-.-" };
  for (const e of m.edges) {
    const label = e.label === undefined ? "" : `|${e.label}|`;
    out.push(`  ${mid(e.from)} ${links[e.line]}${label} ${mid(e.toCluster ?? e.to)}`);
  }
  return `${out.join("\n")}\n`;
}

const q = (text: string) => JSON.stringify(text);

function dot(m: Model): string {
  const shapes: Record<Shape, string> = { box: "box", router: "hexagon", cloud: "ellipse" };
  const styles: Record<Line, string[]> = {
    plain: [],
    bold: ["penwidth=3"],
    dotted: ["style=dotted"],
    dashed: ["style=dashed"],
  };
  // JSON escapes a line break as \n, which is DOT's centred line break too.
  const label = (lines: string[]) => q(lines.join("\n"));
  const out = [
    `// ${m.title}`,
    "graph lab {",
    "  graph [rankdir=LR, compound=true, fontname=Helvetica];",
    "  node [fontname=Helvetica];",
    "  edge [fontname=Helvetica];",
  ];
  const node = (n: Node, indent: string) =>
    out.push(`${indent}${q(n.id)} [shape=${shapes[n.shape]}, label=${label(n.lines)}];`);
  const cluster = (c: Cluster, indent: string) => {
    out.push(`${indent}subgraph ${q(`cluster_${c.id}`)} {`, `${indent}  label=${label(c.lines)};`);
    for (const n of c.nodes) node(n, `${indent}  `);
    for (const sub of c.clusters) cluster(sub, `${indent}  `);
    out.push(`${indent}}`);
  };
  for (const n of m.nodes) node(n, "  ");
  for (const c of m.clusters) cluster(c, "  ");
  for (const e of m.edges) {
    const attrs = [
      ...(e.label === undefined ? [] : [`label=${q(e.label)}`]),
      ...(e.toCluster === undefined ? [] : [`lhead=${q(`cluster_${e.toCluster}`)}`]),
      ...styles[e.line],
    ];
    out.push(`  ${q(e.from)} -- ${q(e.to)}${attrs.length > 0 ? ` [${attrs.join(", ")}]` : ""};`);
  }
  out.push("}");
  return `${out.join("\n")}\n`;
}
