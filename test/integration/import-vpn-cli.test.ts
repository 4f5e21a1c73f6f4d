import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  CreateCustomerGatewayCommand,
  CreateVpnConnectionCommand,
  CreateVpnGatewayCommand,
  DescribeVpnConnectionsCommand,
  EC2Client,
} from "@aws-sdk/client-ec2";
import t, { type Test } from "tap";
import { parse, stringify } from "yaml";
import { awsVpnEntrySchema } from "../../common/aws-vpn/schema.ts";
import { BAD_DOCUMENTS, EXAMPLE_PSKS, EXAMPLE_XML_PATH } from "../fixtures/aws-vpn/malformed.ts";
import { AGENT_BIN } from "../helpers/agent-lab.ts";
import { startMoto } from "../helpers/moto.ts";
import { childEnv, spawnCli } from "../helpers/swanpair-bin.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/** `swanpair-agent import-vpn`, spawned as a user runs it: files, modes, exit codes, secrecy. */

const cli = (...args: string[]) => spawnCli(AGENT_BIN, args, childEnv());
const ID = "vpn-0a1b2c3d4e5f60718";
const mode = async (path: string) => (await stat(path)).mode & 0o777;
const noKeys = (t: Test, text: string, what: string) => {
  for (const psk of EXAMPLE_PSKS) t.notOk(text.includes(psk), `no key on ${what}`);
};

t.test("--xml --out: the entry and two 0600 key files, no key on stdout or stderr", async (t) => {
  const dir = await tempDir(t);
  const keys = join(dir, "psk");
  const out = join(dir, "aws-vpn.yaml");
  const r = await cli("import-vpn", "--xml", EXAMPLE_XML_PATH, "--psk-dir", keys, "--out", out);
  t.equal(r.code, 0, r.stderr);
  noKeys(t, r.stdout + r.stderr, "the output");
  t.match(r.stdout, `wrote ${out}`);
  t.equal(await mode(out), 0o600, "YAML is 0600");
  t.equal(await mode(keys), 0o700, "the key directory is created 0700");
  const yaml = await readFile(out, "utf8");
  noKeys(t, yaml, "the YAML");
  const [entry] = parse(yaml);
  const parsed = awsVpnEntrySchema.safeParse(entry);
  t.ok(parsed.success, "the YAML is a valid aws-vpn entry", { issues: parsed.error?.issues });
  t.equal(entry.name, ID);
  t.equal(entry.routing, "bgp");
  for (const [i, psk] of EXAMPLE_PSKS.entries()) {
    const file = join(keys, `${ID}-tunnel${i + 1}.psk`);
    t.equal(entry.tunnels[i].psk.file, file);
    t.equal(await mode(file), 0o600, `tunnel ${i + 1}'s key file is 0600`);
    t.equal(await readFile(file, "utf8"), `${psk}\n`, `tunnel ${i + 1}'s key`);
  }
  t.same(
    (await readdir(keys)).sort(),
    [`${ID}-tunnel1.psk`, `${ID}-tunnel2.psk`],
    "no temp files left",
  );
});

t.test("without --out the YAML goes to stdout, the keys still only to files", async (t) => {
  const dir = await tempDir(t);
  const r = await cli("import-vpn", "--xml", EXAMPLE_XML_PATH, "--psk-dir", dir);
  t.equal(r.code, 0, r.stderr);
  noKeys(t, r.stdout + r.stderr, "the output");
  t.ok(awsVpnEntrySchema.safeParse(parse(r.stdout)[0]).success, "stdout is the entry");
  const json = await cli("import-vpn", "--xml", EXAMPLE_XML_PATH, "--psk-dir", dir, "--json");
  t.equal(json.code, 0);
  noKeys(t, json.stdout + json.stderr, "the JSON output");
  t.equal(JSON.parse(json.stdout).entry.vpnConnectionId, ID);
});

t.test(
  "an imported entry, with the networks the document does not name, is one the agent takes",
  async (t) => {
    const dir = await tempDir(t);
    const keys = join(dir, "psk");
    const out = join(dir, "aws-vpn.yaml");
    const args = ["--xml", EXAMPLE_XML_PATH, "--psk-dir", keys, "--out", out];
    const r = await cli(
      "import-vpn",
      ...args,
      ...["--remote-prefix", "10.9.0.0/16", "--remote-prefix", "10.8.0.0/16"],
      ...["--advertise", "10.0.0.0/16"],
    );
    t.equal(r.code, 0, r.stderr);
    const [entry] = parse(await readFile(out, "utf8"));
    t.same(entry.remotePrefixes, ["10.9.0.0/16", "10.8.0.0/16"], "--remote-prefix, in order");
    t.same(entry.advertise, ["10.0.0.0/16"], "--advertise: the document is BGP");
    const config = join(dir, "agent.yaml");
    await writeFile(
      config,
      stringify({
        // The document's customer gateway address is this appliance's public address.
        appliance: { name: "cgw", localAddress: "10.0.0.5", publicAddress: "198.51.100.10" },
        stateDir: join(dir, "state"),
        api: { socket: join(dir, "agent.sock") },
        tunnels: [entry],
      }),
    );
    const validated = await cli("validate", "--config", config);
    t.equal(validated.code, 0, validated.stdout + validated.stderr);
    const bad = await cli("import-vpn", ...args, "--remote-prefix", "10.9.0.0/33");
    t.equal(bad.code, 2, "a bad --remote-prefix is a usage error");
    t.match(bad.stderr, /--remote-prefix "10.9.0.0\/33"/);
    const badAdvertise = await cli("import-vpn", ...args, "--advertise", "nope");
    t.equal(badAdvertise.code, 2, "a bad --advertise too");
  },
);

t.test("existing files are replaced whole, keeping mode 0600", async (t) => {
  const dir = await tempDir(t);
  const out = join(dir, "aws-vpn.yaml");
  const key1 = join(dir, `${ID}-tunnel1.psk`);
  await writeFile(out, "old: content\n".repeat(1000), { mode: 0o644 });
  await writeFile(key1, "an.old.key.longer.than.the.new.one.by.far\n", { mode: 0o644 });
  const r = await cli("import-vpn", "--xml", EXAMPLE_XML_PATH, "--psk-dir", dir, "--out", out);
  t.equal(r.code, 0, r.stderr);
  t.equal(await readFile(key1, "utf8"), `${EXAMPLE_PSKS[0]}\n`, "the old key is gone entirely");
  t.equal(await mode(key1), 0o600, "a replaced key file is 0600");
  t.equal(await mode(out), 0o600, "a replaced YAML is 0600");
  t.notMatch(await readFile(out, "utf8"), /old: content/);
  t.same(
    (await readdir(dir)).filter((f) => f.endsWith(".tmp")),
    [],
    "no temp files left",
  );
});

t.test("a refused document exits 2, names the element, and writes nothing", async (t) => {
  const dir = await tempDir(t);
  const keys = join(dir, "psk");
  const out = join(dir, "out.yaml");
  for (const bad of BAD_DOCUMENTS.slice(0, 4)) {
    const xml = join(dir, "bad.xml");
    await writeFile(xml, bad.xml);
    const r = await cli("import-vpn", "--xml", xml, "--psk-dir", keys, "--out", out);
    t.equal(r.code, 2, `${bad.name}: exit 2`);
    t.match(r.stderr, `${xml}: ${bad.path}: `, `${bad.name}: the element is named`);
    t.match(r.stderr, "(SWP_ERR_VPN_CONFIG_INVALID)");
    noKeys(t, r.stdout + r.stderr, `${bad.name}'s output`);
    const json = await cli("import-vpn", "--xml", xml, "--psk-dir", keys, "--json");
    t.equal(json.code, 2);
    const { error } = JSON.parse(json.stdout);
    t.equal(error.code, "SWP_ERR_VPN_CONFIG_INVALID");
    t.ok(
      error.issues.some((i: { path: string }) => i.path === bad.path),
      `${bad.name}: in JSON`,
    );
  }
  await t.rejects(stat(keys), "no key directory was made");
  await t.rejects(stat(out), "no YAML was written");
});

t.test("bad usage exits 2", async (t) => {
  const dir = await tempDir(t);
  const cases: string[][] = [
    ["--psk-dir", dir],
    ["--xml", EXAMPLE_XML_PATH, "--vpn-connection-id", ID, "--psk-dir", dir],
    ["--xml", EXAMPLE_XML_PATH, "--region", "eu-west-1", "--psk-dir", dir],
    ["--vpn-connection-id", "vpn-NOPE", "--psk-dir", dir],
    ["--xml", EXAMPLE_XML_PATH],
  ];
  for (const args of cases) {
    const r = await cli("import-vpn", ...args);
    t.equal(r.code, 2, args.join(" "));
  }
  const help = await cli("import-vpn", "--help");
  t.equal(help.code, 0);
  t.match(help.stdout, /--json/);
  t.match(help.stdout, /Examples:\n {2}\$ swanpair-agent import-vpn --xml /);
  const missing = await cli("import-vpn", "--xml", join(dir, "nope.xml"), "--psk-dir", dir);
  t.equal(missing.code, 1, "an unreadable file is a failed read");
  t.match(missing.stderr, "SWP_ERR_CONFIG_READ");
});

t.test("--vpn-connection-id against moto's EC2", async (t) => {
  const moto = await startMoto(t);
  const region = "us-east-1";
  const ec2 = new EC2Client({ region, endpoint: moto.endpoint });
  t.teardown(() => ec2.destroy());
  const cgw = await ec2.send(
    new CreateCustomerGatewayCommand({ Type: "ipsec.1", PublicIp: "198.51.100.10", BgpAsn: 65000 }),
  );
  const vgw = await ec2.send(new CreateVpnGatewayCommand({ Type: "ipsec.1" }));
  const created = await ec2.send(
    new CreateVpnConnectionCommand({
      Type: "ipsec.1",
      CustomerGatewayId: cgw.CustomerGateway?.CustomerGatewayId,
      VpnGatewayId: vgw.VpnGateway?.VpnGatewayId,
    }),
  );
  const id = created.VpnConnection?.VpnConnectionId ?? "";
  const described = await ec2.send(new DescribeVpnConnectionsCommand({ VpnConnectionIds: [id] }));
  const xml = described.VpnConnections?.[0]?.CustomerGatewayConfiguration ?? "";
  t.comment(`moto ${id}: Options ${JSON.stringify(described.VpnConnections?.[0]?.Options)}`);
  // What moto serves: a fixed document, both tunnels alike (one endpoint, one /30, one key).
  t.match(xml, `<vpn_connection id="${id}">`);
  t.equal(
    xml.match(/<ip_address>52\.2\.144\.13<\/ip_address>/g)?.length,
    2,
    "one AWS endpoint for both tunnels",
  );

  const dir = await tempDir(t);
  const args = [
    "import-vpn",
    "--vpn-connection-id",
    id,
    "--region",
    region,
    "--endpoint",
    moto.endpoint,
  ];
  const r = await cli(...args, "--psk-dir", dir);
  t.equal(r.code, 2, "refused: AWS never gives two tunnels one endpoint and one /30");
  t.match(
    r.stderr,
    `${id} (DescribeVpnConnections): vpn_connection/ipsec_tunnel[2]/vpn_gateway/tunnel_inside_address: is 169.254.44.40/30, the same /30 as ipsec_tunnel[1]'s`,
  );
  t.match(
    r.stderr,
    "vpn_connection/ipsec_tunnel[2]/vpn_gateway/tunnel_outside_address: is 52.2.144.13",
  );
  const issueLines = r.stderr.split("\n").filter((l) => l.includes(": vpn_connection/"));
  t.equal(
    issueLines.length,
    2,
    "those two are the only problems: everything else of moto's document reads",
    { issueLines },
  );
  t.notOk(r.stderr.includes("Iw2IAN9XUsQeYUrkMGP3kP59ugFDkfHg"), "moto's key is not shown");
  t.same(await readdir(dir), [], "nothing written");

  const unknown = await cli(
    "import-vpn",
    "--vpn-connection-id",
    "vpn-0123456789abcdef0",
    "--region",
    region,
    "--endpoint",
    moto.endpoint,
    "--psk-dir",
    dir,
    "--json",
  );
  t.equal(unknown.code, 1, "an unknown connection is a failed EC2 call");
  const { error } = JSON.parse(unknown.stdout);
  t.equal(error.code, "SWP_ERR_EC2_CALL");
  t.match(error.message, /DescribeVpnConnections: InvalidVpnConnectionID\.NotFound/);

  // The same XML import path, once moto's document has two distinct tunnels (as AWS's has).
  const distinct = xml
    .replace("52.2.144.13", "203.0.113.12")
    .replace("169.254.44.42", "169.254.45.2")
    .replace("169.254.44.41", "169.254.45.1");
  const file = join(dir, "moto-fixed.xml");
  await writeFile(file, distinct.replace(/52\.2\.144\.13/, "203.0.113.11"));
  const fixed = await cli("import-vpn", "--xml", file, "--psk-dir", join(dir, "k"));
  t.equal(fixed.code, 0, fixed.stderr);
  t.equal(parse(fixed.stdout)[0].routing, "bgp", "moto's document is a BGP connection");
});
