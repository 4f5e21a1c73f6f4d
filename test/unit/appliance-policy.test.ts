import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import {
  appliancePolicy,
  KEY_DECRYPT_ACTIONS,
  KEY_READ_ACTIONS,
} from "../../control-plane/src/iam/appliance-policy.ts";
import type { PolicyDocument } from "../../control-plane/src/iam/policy.ts";
import { tunnelKeys } from "../../control-plane/src/keys/tunnel-keys.ts";
import { documentedFleet, pageExamples } from "../helpers/doc-examples.ts";
import { likeMatches } from "../helpers/iam-like.ts";
import { swanpair } from "../helpers/swanpair-bin.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * An appliance's own policy: it may read exactly the keys of its own tunnels, whatever the
 * names of the others, decrypt them only through SSM, and make no other call; the agent's SSM
 * adapter needs nothing more; docs/iam-policy.md shows what the command prints.
 */

const ROOT = join(import.meta.dirname, "../..");

const arnOf = (region: string, partition: string, parameter: string) =>
  `arn:${partition}:ssm:${region}:123456789012:parameter${parameter}`;

/** Names chosen so that one is a prefix of another and sorting puts them on either side. */
const pair = (name: string, members: [string, string]) => ({
  name,
  vpc: name,
  members,
  preferred: members[0],
});
const FLEET = {
  pairs: [pair("p", ["a1", "a10"]), pair("q", ["b1", "b10"]), pair("r", ["0c", "zz"])],
  connections: [
    { name: "pq", kind: "site-to-site" as const, between: ["p", "q"] as [string, string] },
    { name: "rp", kind: "site-to-site" as const, between: ["r", "p"] as [string, string] },
  ],
};

for (const [region, partition] of [
  ["us-east-1", "aws"],
  ["cn-north-1", "aws-cn"],
  ["us-gov-west-1", "aws-us-gov"],
] as const) {
  t.test(`${region}: each appliance reads exactly its own tunnels' keys`, async (t) => {
    const prefix = "/swanpair/prod";
    const keys = tunnelKeys(FLEET, prefix);
    for (const me of ["a1", "a10", "b1", "0c", "zz"]) {
      const policy = appliancePolicy({ region }, prefix, me);
      const [read, decrypt] = policy.Statement;
      const resources = [read?.Resource ?? []].flat();
      const readable = keys.filter((k) =>
        resources.some((r) => likeMatches(r, arnOf(region, partition, k.parameter))),
      );
      t.same(
        readable.map((k) => k.parameter).sort(),
        keys
          .filter((k) => k.appliances.includes(me))
          .map((k) => k.parameter)
          .sort(),
        `${me}: its own keys and no other`,
      );
      t.same(read?.Action, ["ssm:GetParameters"]);
      t.same(decrypt?.Action, ["kms:Decrypt"]);
      t.equal(decrypt?.Resource, `arn:${partition}:kms:${region}:*:key/*`);
      const via = decrypt?.Condition?.StringLike?.["kms:ViaService"];
      t.equal(via, `ssm.${region}.*`, "decrypt only through SSM of this region");
      const domain = partition === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
      t.ok(likeMatches(String(via), `ssm.${region}.${domain}`), "SSM's own endpoint matches");
      t.notOk(likeMatches(String(via), `secretsmanager.${region}.${domain}`), "no other service");
      t.equal(policy.Statement.length, 2, "nothing else");
    }
  });
}

t.test("the policy allows exactly the call the agent's SSM adapter makes", async (t) => {
  const source = await readFile(join(ROOT, "agent/src/keys/ssm.ts"), "utf8");
  const calls = [...source.matchAll(/new ([A-Za-z]+)Command\(/g)].map((m) => `ssm:${m[1]}`);
  t.same(calls, [...KEY_READ_ACTIONS], "GetParameters, and decryption rides on it");
  t.same([...KEY_DECRYPT_ACTIONS], ["kms:Decrypt"]);
});

t.test("docs/iam-policy.md shows what iam-policy --appliance a1 prints", async (t) => {
  const [example] = await pageExamples("fleet-config.md");
  const fleet = await documentedFleet();
  const doc = await readFile(join(ROOT, "docs/iam-policy.md"), "utf8");
  const section = doc.slice(doc.indexOf("## An appliance's policy"));
  const shown = /```json\n([\s\S]*?)\n```/.exec(section)?.[1];
  const expected = appliancePolicy(fleet, `/swanpair/${fleet.tag.value}`, "a1");
  t.equal(shown, JSON.stringify(expected, null, 2));
  const parsed: PolicyDocument = JSON.parse(shown ?? "");
  t.match(JSON.stringify(parsed), "parameter/swanpair/prod-east/psk/a1/*");

  // The same through the CLI, as an operator runs it.
  const dir = await tempDir(t, "swp-iam-");
  const file = join(dir, "fleet.yaml");
  await writeFile(file, example?.yaml ?? "");
  const run = await swanpair("iam-policy", "--appliance", "a1", "--config", file);
  t.equal(run.code, 0, run.stderr);
  t.equal(run.stdout.trim(), shown);
  const unknown = await swanpair("iam-policy", "--appliance", "zz", "--config", file, "--json");
  t.equal(unknown.code, 2, "an appliance the fleet does not have is bad usage");
  t.match(JSON.parse(unknown.stdout), { error: { code: "SWP_ERR_USAGE", message: /zz/ } });
});
