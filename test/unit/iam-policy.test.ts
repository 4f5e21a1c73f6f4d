import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { FENCE_TAGS } from "../../control-plane/src/fleet/fence-tags.ts";
import { loadFleetText } from "../../control-plane/src/fleet/load.ts";
import type { Vpc } from "../../control-plane/src/fleet/types.ts";
import {
  ASSOCIATION_ACTIONS,
  controllerPolicy,
  type PolicyDocument,
  partitionOf,
  SWAP_READ_ACTIONS,
} from "../../control-plane/src/iam/policy.ts";
import { pageExamples } from "../helpers/doc-examples.ts";

/**
 * The controller's policy: least privilege by construction (every write scoped to tagged
 * route tables of the region, tags limited to the fence keys), every call the EC2 adapter
 * makes allowed and nothing more, and docs/iam-policy.md showing exactly what the code prints.
 */

const ROOT = join(import.meta.dirname, "../..");

const FLEETS = [
  { region: "us-east-1", tag: { key: "swanpair:fleet", value: "prod-east" }, partition: "aws" },
  { region: "eu-west-1", tag: { key: "team", value: "net ops" }, partition: "aws" },
  { region: "cn-north-1", tag: { key: "swanpair:fleet", value: "default" }, partition: "aws-cn" },
  { region: "us-gov-west-1", tag: { key: "fleet", value: "gov" }, partition: "aws-us-gov" },
  { region: "us-iso-east-1", tag: { key: "fleet", value: "iso" }, partition: "aws-iso" },
  { region: "us-isob-east-1", tag: { key: "fleet", value: "isob" }, partition: "aws-iso-b" },
];

const isRead = (action: string) => /^ec2:Describe[A-Za-z]+$/.test(action);

/** A VPC in swap mode: what turns the association statement on. */
const SWAP_VPCS: Vpc[] = [
  {
    name: "v",
    id: "vpc-1",
    cidrs: ["10.1.0.0/16"],
    routeTables: [],
    swap: [{ subnets: ["subnet-1"], tables: { a1: "rtb-1", a2: "rtb-2" } }],
  },
];

for (const f of FLEETS.flatMap((f) => [f, { ...f, vpcs: SWAP_VPCS }])) {
  const swap = "vpcs" in f;
  t.test(`${f.region}, ${f.tag.key}=${f.tag.value}${swap ? ", swap mode" : ""}`, async (t) => {
    const policy = controllerPolicy(f);
    t.equal(partitionOf(f.region), f.partition);
    const tables = `arn:${f.partition}:ec2:${f.region}:*:route-table/*`;
    const subnets = `arn:${f.partition}:ec2:${f.region}:*:subnet/*`;
    const moves = policy.Statement.filter((s) =>
      s.Action.some((a) => (ASSOCIATION_ACTIONS as readonly string[]).includes(a)),
    );
    t.equal(moves.length, swap ? 1 : 0, "association rights only for a fleet in swap mode");
    for (const s of policy.Statement) {
      t.equal(s.Effect, "Allow", `${s.Sid}: allows only`);
      t.match(s.Sid, /^[A-Za-z0-9]+$/, "Sid is alphanumeric, as IAM requires");
      if (s.Action.every(isRead)) {
        // Describe* have no resource-level permissions: "*" is the only valid resource.
        t.equal(s.Resource, "*", `${s.Sid}: reads on *`);
        t.notOk(s.Condition, `${s.Sid}: reads carry no tag condition they could not honour`);
        continue;
      }
      t.notOk(s.Action.some(isRead), `${s.Sid}: writes and reads are not mixed`);
      t.not(s.Resource, "*", `${s.Sid}: a write never on *`);
      if (moves.includes(s)) {
        t.same(s.Action, [...ASSOCIATION_ACTIONS], "associations have their own statement");
        // The subnet is a resource of both actions: it must carry the tag as well.
        t.same(s.Resource, [tables, subnets], `${s.Sid}: only route tables and subnets`);
      } else t.equal(s.Resource, tables, `${s.Sid}: writes only on route tables of ${f.region}`);
      t.same(
        s.Condition?.StringEquals,
        { [`ec2:ResourceTag/${f.tag.key}`]: f.tag.value },
        `${s.Sid}: writes only in tables tagged ${f.tag.key}=${f.tag.value}`,
      );
      if (s.Action.includes("ec2:CreateTags")) {
        t.same(s.Action, ["ec2:CreateTags"], "tagging has its own statement");
        t.same(
          s.Condition?.["ForAllValues:StringEquals"]?.["aws:TagKeys"],
          Object.values(FENCE_TAGS),
          "only the fence keys may be written",
        );
        t.same(s.Condition?.Null, { "aws:TagKeys": "false" }, "a request must name its keys");
      }
    }
  });
}

t.test("no statement grants a write without the tag condition, whatever the fleet", async (t) => {
  for (const f of FLEETS.flatMap((f) => [f, { ...f, vpcs: SWAP_VPCS }])) {
    const writes = controllerPolicy(f).Statement.filter((s) => !s.Action.every(isRead));
    t.same([...new Set(writes.flatMap((s) => s.Action))].sort(), [
      ...("vpcs" in f ? ["ec2:AssociateRouteTable"] : []),
      "ec2:CreateRoute",
      "ec2:CreateTags",
      "ec2:ReplaceRoute",
      ...("vpcs" in f ? ["ec2:ReplaceRouteTableAssociation"] : []),
    ]);
    t.ok(writes.every((s) => s.Condition?.StringEquals !== undefined && s.Resource !== "*"));
    // The fleet's own tag key is never writable: tagging a table into a fleet is the operator's act.
    const tagKeys = writes.flatMap(
      (s) => s.Condition?.["ForAllValues:StringEquals"]?.["aws:TagKeys"] ?? [],
    );
    t.notOk(tagKeys.includes(f.tag.key), `${f.tag.key} is not writable`);
  }
});

/** The operations the adapter sends, from its source: every `ec2.call("Operation", ...)`. */
async function adapterOperations(): Promise<string[]> {
  const dir = join(ROOT, "control-plane/src/ec2");
  const ops = new Set<string>();
  for (const file of await readdir(dir)) {
    const text = await readFile(join(dir, file), "utf8");
    for (const m of text.matchAll(/\.call\(\s*"([A-Za-z]+)"/g)) if (m[1]) ops.add(`ec2:${m[1]}`);
  }
  return [...ops].sort();
}

t.test("the policy allows exactly the calls the EC2 adapter makes", async (t) => {
  const ops = await adapterOperations();
  t.ok(ops.length >= 5, `found the adapter's calls: ${ops.join(", ")}`);
  const fleet = FLEETS[0] as (typeof FLEETS)[number];
  const granted = (f: Parameters<typeof controllerPolicy>[0]) =>
    controllerPolicy(f)
      .Statement.flatMap((s) => s.Action)
      .sort();
  t.same(granted({ ...fleet, vpcs: SWAP_VPCS }), ops, "swap mode: every call");
  const swapOnly: readonly string[] = [...ASSOCIATION_ACTIONS, ...SWAP_READ_ACTIONS];
  t.same(
    granted(fleet),
    ops.filter((op) => !swapOnly.includes(op)),
    "in place: every call but swap mode's",
  );
});

t.test("docs/iam-policy.md shows what iam-policy prints for the documented fleet", async (t) => {
  const [example] = await pageExamples("fleet-config.md");
  if (!example) throw new Error("docs/fleet-config.md has no yaml example");
  const loaded = await loadFleetText(example.yaml);
  if (!loaded.ok)
    throw new Error(`the documented fleet does not load: ${loaded.issues[0]?.message}`);
  const doc = await readFile(join(ROOT, "docs/iam-policy.md"), "utf8");
  const shown = /```json\n([\s\S]*?)\n```/.exec(doc)?.[1];
  t.equal(shown, JSON.stringify(controllerPolicy(loaded.fleet), null, 2));
  t.match(shown, `"ec2:ResourceTag/${loaded.fleet.tag.key}": "${loaded.fleet.tag.value}"`);
  const parsed: PolicyDocument = JSON.parse(shown ?? "");
  t.equal(parsed.Version, "2012-10-17");
});
