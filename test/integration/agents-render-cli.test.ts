import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  CreateCustomerGatewayCommand,
  CreateVpnConnectionCommand,
  CreateVpnGatewayCommand,
  EC2Client,
} from "@aws-sdk/client-ec2";
import t from "tap";
import { parse, parseAllDocuments, stringify } from "yaml";
import { HUB } from "../fixtures/agent-fleets.ts";
import { startMoto } from "../helpers/moto.ts";
import { swanpair } from "../helpers/swanpair-bin.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * `swanpair agents render` as an operator runs it, on a fleet file on disk: YAML documents on
 * stdout, --appliance, --out with its files and modes, --json, and the refusals with exit 2.
 * What the configs hold is test/unit/agents-render.test.ts's; here they must equal its golden
 * files whichever way they come out.
 */

const GOLDEN = new URL("../fixtures/golden/agents/hub/", import.meta.url);
const APPLIANCES = ["h1", "h2", "e1", "e2", "w1", "w2"];
const golden = (appliance: string) => readFile(new URL(`${appliance}.yaml`, GOLDEN), "utf8");

const dir = await tempDir(t, "swp-agr-");
const fleet = join(dir, "fleet.yaml");
await writeFile(fleet, HUB);

t.test("stdout: one YAML document per appliance, each after a comment naming it", async (t) => {
  const r = await swanpair("agents", "render", "--config", fleet);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, "");
  const docs = parseAllDocuments(r.stdout);
  if (!Array.isArray(docs)) return t.fail("stdout is YAML documents");
  t.same(
    docs.map((d) => d.toJS().appliance.name),
    APPLIANCES,
  );
  t.same(
    r.stdout.split(/^---$/m).map((doc) => /^\n?# swanpair-agent config of (\w+),/.exec(doc)?.[1]),
    APPLIANCES,
    "each document opens with a comment naming its appliance",
  );
  const expected = await Promise.all(APPLIANCES.map(golden));
  t.equal(r.stdout, expected.join("---\n"), "the golden files, --- between them");
});

t.test("--appliance: that appliance's config only", async (t) => {
  const r = await swanpair("agents", "render", "--config", fleet, "--appliance", "e2");
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, await golden("e2"));
  t.notMatch(r.stdout, /^---$/m, "one document");

  const unknown = await swanpair("agents", "render", "--config", fleet, "--appliance", "x9");
  t.equal(unknown.code, 2, "an appliance the fleet lacks is bad usage");
  t.match(unknown.stderr, /no appliance named "x9" in the fleet \(h1, h2,/);
  t.equal(unknown.stdout, "");
});

t.test("--out: one file per appliance, mode 0644, replaced in place", async (t) => {
  const out = join(dir, "out", "agents");
  const r = await swanpair("agents", "render", "--config", fleet, "--out", out);
  t.equal(r.code, 0, r.stderr);
  t.same(
    r.stdout.trim().split("\n"),
    APPLIANCES.map((a) => `wrote ${join(out, `${a}.yaml`)}`),
  );
  t.same((await readdir(out)).sort(), APPLIANCES.map((a) => `${a}.yaml`).sort(), "no temp file");
  for (const a of APPLIANCES) {
    const file = join(out, `${a}.yaml`);
    t.equal((await stat(file)).mode & 0o777, 0o644, `${a}.yaml is 0644: it holds no key`);
    t.equal(await readFile(file, "utf8"), await golden(a), `${a}.yaml`);
  }

  await writeFile(join(out, "w1.yaml"), "stale\n");
  const again = await swanpair(
    "agents",
    "render",
    "--config",
    fleet,
    "--out",
    out,
    "--appliance",
    "w1",
    "--json",
  );
  t.equal(again.code, 0, again.stderr);
  t.same(JSON.parse(again.stdout), { wrote: [join(out, "w1.yaml")] });
  t.equal(await readFile(join(out, "w1.yaml"), "utf8"), await golden("w1"), "rewritten");
  t.equal(await readFile(join(out, "h1.yaml"), "utf8"), await golden("h1"), "others untouched");
});

t.test("--json: the configs as data", async (t) => {
  const r = await swanpair("agents", "render", "--config", fleet, "--json");
  t.equal(r.code, 0, r.stderr);
  const configs = JSON.parse(r.stdout);
  t.same(
    configs.map((c: { appliance: string }) => c.appliance),
    APPLIANCES,
  );
  t.same(configs[0].config, parse(await golden("h1")), "the same config as the YAML");
});

t.test("a fleet without the facts: exit 2, each missing field with its path", async (t) => {
  const bare = join(dir, "bare.yaml");
  const tree = parse(HUB);
  for (const a of tree.appliances) delete a.address;
  await writeFile(bare, JSON.stringify(tree));

  const valid = await swanpair("validate", "--config", bare);
  t.equal(valid.code, 0, "the controller still takes it");

  const r = await swanpair("agents", "render", "--config", bare, "--appliance", "e1");
  t.equal(r.code, 2);
  t.equal(r.stdout, "");
  t.same(
    r.stderr
      .trim()
      .split("\n")
      .map((l) => l.replace(/: is required .*\[/, ": [")),
    [
      `${bare}: appliances[0].address: [required]`,
      `${bare}: appliances[1].address: [required]`,
      `${bare}: appliances[2].address: [required]`,
    ],
    "e1 and the hub pair it meshes with",
  );
  const json = await swanpair("agents", "render", "--config", bare, "--json");
  t.equal(json.code, 2);
  const { error } = JSON.parse(json.stdout);
  t.equal(error.code, "SWP_ERR_CONFIG_INVALID");
  t.same(
    error.issues.map((i: { path: string }) => i.path),
    APPLIANCES.map((_, i) => `appliances[${i}].address`),
  );
});

t.test("--help names the verb and its examples", async (t) => {
  const top = await swanpair("agents", "--help");
  t.match(top.stdout, /render\b.*agent config/);
  const help = await swanpair("agents", "render", "--help");
  t.equal(help.code, 0);
  t.match(help.stdout, /--appliance <name>/);
  t.match(help.stdout, /\$ swanpair agents render --config fleet.yaml --out /);
});

t.test(
  "aws-vpn: each member's VPN connection is read from EC2 (moto) and held to AWS's rules",
  async (t) => {
    const moto = await startMoto(t);
    const ec2 = new EC2Client({ region: "eu-west-1", endpoint: moto.endpoint });
    t.teardown(() => ec2.destroy());
    const vgw = await ec2.send(new CreateVpnGatewayCommand({ Type: "ipsec.1" }));
    const ids: string[] = [];
    for (const ip of ["198.18.0.11", "198.18.0.12"]) {
      const cgw = await ec2.send(
        new CreateCustomerGatewayCommand({ Type: "ipsec.1", PublicIp: ip, BgpAsn: 65000 }),
      );
      const vpn = await ec2.send(
        new CreateVpnConnectionCommand({
          Type: "ipsec.1",
          CustomerGatewayId: cgw.CustomerGateway?.CustomerGatewayId,
          VpnGatewayId: vgw.VpnGateway?.VpnGatewayId,
        }),
      );
      ids.push(vpn.VpnConnection?.VpnConnectionId ?? "");
    }
    const withAws = async (vpnConnections: Record<string, string>) => {
      const tree = parse(HUB);
      tree.endpoint = moto.endpoint;
      tree.connections.push({
        name: "hub-aws",
        kind: "aws-vpn",
        pair: "hub-pair",
        remoteCidrs: ["10.99.0.0/16"],
        vpnConnections,
        pathTarget: "10.99.0.10",
      });
      const file = join(dir, `aws-${Object.values(vpnConnections).join("-")}.yaml`);
      await writeFile(file, stringify(tree));
      return file;
    };

    // moto serves one fixed document: both tunnels on one endpoint and one /30, which AWS never
    // does; the refusal names the fleet field and the element.
    const file = await withAws({ h1: ids[0] ?? "", h2: ids[1] ?? "" });
    const r = await swanpair("agents", "render", "--config", file, "--appliance", "h1");
    t.equal(r.code, 2, r.stderr);
    t.match(
      r.stderr,
      `connections[2].vpnConnections.h1: ${ids[0]}: vpn_connection/ipsec_tunnel[2]/vpn_gateway/tunnel_inside_address:`,
    );
    t.notMatch(r.stderr, "vpnConnections.h2", "only h1's VPN connection was read");
    t.equal(r.stdout, "");

    const others = await swanpair("agents", "render", "--config", file, "--appliance", "e1");
    t.equal(others.code, 0, "an appliance outside the pair needs no VPN connection");
    t.notMatch(others.stdout, "aws-vpn");

    const unknown = await withAws({ h1: "vpn-0123456789abcdef0", h2: ids[1] ?? "" });
    const missing = await swanpair("agents", "render", "--config", unknown, "--json");
    t.equal(missing.code, 1, "a VPN connection EC2 does not know is a failed call");
    t.match(JSON.parse(missing.stdout).error, {
      code: "SWP_ERR_EC2_CALL",
      message: /DescribeVpnConnections: InvalidVpnConnectionID\.NotFound/,
    });
  },
);
