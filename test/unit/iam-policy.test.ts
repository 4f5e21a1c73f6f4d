import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import {
  FENCE_KEY_PREFIX,
  fenceKey,
  LEGACY_FENCE_TAGS,
} from "../../control-plane/src/fleet/fence-tags.ts";
import type { Vpc } from "../../control-plane/src/fleet/types.ts";
import {
  ASSOCIATION_ACTIONS,
  controllerPolicy,
  type PolicyDocument,
  partitionOf,
  SWAP_READ_ACTIONS,
} from "../../control-plane/src/iam/policy.ts";
import { documentedFleet } from "../helpers/doc-examples.ts";
import { likeMatches } from "../helpers/iam-like.ts";

/**
 * The controller's policy: least privilege by construction (every write scoped to tagged
 * route tables of the region, tags limited to the per-side fence keys, and only the three
 * legacy fence keys removable), every call the EC2 adapter
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
          s.Condition?.["ForAllValues:StringLike"]?.["aws:TagKeys"],
          [`${FENCE_KEY_PREFIX}*`],
          "only the per-side fence keys may be written",
        );
        t.notOk(
          s.Condition?.["ForAllValues:StringEquals"],
          "no exact key list: each side has its own key",
        );
        t.same(s.Condition?.Null, { "aws:TagKeys": "false" }, "a request must name its keys");
      }
      if (s.Action.includes("ec2:DeleteTags")) {
        t.same(s.Action, ["ec2:DeleteTags"], "untagging has its own statement");
        t.same(
          s.Condition?.["ForAllValues:StringEquals"]?.["aws:TagKeys"],
          Object.values(LEGACY_FENCE_TAGS),
          "only the legacy fence keys may be removed, never a side's fence or the fleet tag",
        );
        t.notOk(s.Condition?.["ForAllValues:StringLike"], "no wildcard on removal");
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
      "ec2:DeleteTags",
      "ec2:ReplaceRoute",
      ...("vpcs" in f ? ["ec2:ReplaceRouteTableAssociation"] : []),
    ]);
    t.ok(writes.every((s) => s.Condition?.StringEquals !== undefined && s.Resource !== "*"));
    // The fleet's own tag key is never writable nor removable: tagging a table into a fleet
    // (or out of it) is the operator's act.
    const patterns = writes.flatMap((s) =>
      ["ForAllValues:StringEquals", "ForAllValues:StringLike"].flatMap((c) => {
        const keys = s.Condition?.[c]?.["aws:TagKeys"] ?? [];
        return typeof keys === "string" ? [keys] : keys;
      }),
    );
    t.ok(patterns.length > 0, "the tag statements name their keys");
    t.notOk(
      patterns.some((p) => likeMatches(p, f.tag.key)),
      `${f.tag.key} is neither writable nor removable`,
    );
  }
});

t.test("every side's fence key is one the policy lets the controller write", async (t) => {
  const [tagging] = controllerPolicy(FLEETS[0] as (typeof FLEETS)[number]).Statement.filter((s) =>
    s.Action.includes("ec2:CreateTags"),
  );
  const allowed = tagging?.Condition?.["ForAllValues:StringLike"]?.["aws:TagKeys"] ?? [];
  const long = "c".repeat(200);
  for (const [connection, pair] of [
    ["east-west", "east-pair"],
    ["hub-a", "hub-pair"],
    [long, "p"],
    ["c", long],
  ] as const) {
    const key = fenceKey(connection, pair);
    t.ok(key.length <= 128, `${key.slice(0, 40)}…: within EC2's 128 characters`);
    t.ok(
      [allowed].flat().some((p) => likeMatches(p, key)),
      `${key.slice(0, 40)}…: matches the CreateTags condition`,
    );
  }
  t.equal(fenceKey("east-west", "east-pair"), "swanpair:fence:east-west/east-pair", "readable");
  t.not(fenceKey(long, "p"), fenceKey(long, "q"), "hashed keys still differ per side");
  t.equal(fenceKey(long, "p"), fenceKey(long, "p"), "and are stable");
  for (const key of Object.values(LEGACY_FENCE_TAGS))
    t.notOk(
      [allowed].flat().some((p) => likeMatches(p, key)),
      `${key}: the legacy keys cannot be written any more`,
    );
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

/** DynamoDB actions the controller's lease code sends (store and the table check), from source. */
async function leaseOperations(): Promise<string[]> {
  const ops = new Set<string>();
  for (const file of ["store.ts", "table.ts"]) {
    const text = await readFile(join(ROOT, "control-plane/src/leases", file), "utf8");
    for (const m of text.matchAll(/new ([A-Za-z]+)Command\(/g))
      if (m[1]) ops.add(`dynamodb:${m[1]}`);
  }
  return [...ops].sort();
}

t.test(
  "with a lease table: the lease calls on that table alone, table creation left out",
  async (t) => {
    const fleet = FLEETS[0] as (typeof FLEETS)[number];
    const policy = controllerPolicy({ ...fleet, leases: { table: "swp-leases", ttlMs: 15_000 } });
    const leases = policy.Statement.filter((s) => s.Action.some((a) => a.startsWith("dynamodb:")));
    t.equal(leases.length, 1, "one statement");
    t.equal(leases[0]?.Resource, "arn:aws:dynamodb:us-east-1:*:table/swp-leases");
    const creating = ["dynamodb:CreateTable", "dynamodb:UpdateTimeToLive"];
    t.same(
      [...(leases[0]?.Action ?? [])].sort(),
      (await leaseOperations()).filter((op) => !creating.includes(op)),
      "every call the store and the check make; creating the table is the operator's",
    );
    t.notOk(
      controllerPolicy(fleet).Statement.some((s) =>
        s.Action.some((a) => a.startsWith("dynamodb:")),
      ),
      "no lease table, no DynamoDB rights",
    );
  },
);

t.test("docs/iam-policy.md shows what iam-policy prints for the documented fleet", async (t) => {
  const fleet = await documentedFleet();
  const doc = await readFile(join(ROOT, "docs/iam-policy.md"), "utf8");
  const shown = /```json\n([\s\S]*?)\n```/.exec(doc)?.[1];
  t.equal(shown, JSON.stringify(controllerPolicy(fleet), null, 2));
  t.match(shown, `"ec2:ResourceTag/${fleet.tag.key}": "${fleet.tag.value}"`);
  const parsed: PolicyDocument = JSON.parse(shown ?? "");
  t.equal(parsed.Version, "2012-10-17");
});
