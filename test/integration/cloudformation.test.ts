import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { join, resolve } from "node:path";
import {
  AssociateRouteTableCommand,
  AttachInternetGatewayCommand,
  CreateInternetGatewayCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeAddressesCommand,
  DescribeImagesCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  type Instance,
  type IpPermission,
} from "@aws-sdk/client-ec2";
import { SignatureV4 } from "@smithy/signature-v4";
import t from "tap";
import { parse, stringify, type Tags } from "yaml";
import { PROBE_PORT } from "../../common/agent-config/schema.ts";
import { FAKE_CREDENTIALS, useFakeCredentials } from "../helpers/aws-env.ts";
import { makeTestPki } from "../helpers/certs.ts";
import { fleetTree, type Tree } from "../helpers/fleet-file.ts";
import { seededFleet, seedFleet } from "../helpers/moto.ts";
import { stopChild } from "../helpers/netns.ts";
import { spawnCli, swanpair } from "../helpers/swanpair-bin.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * images/cloudformation/swanpair-pair.yaml (issue 12, item 7; docs/install.md,
 * "CloudFormation"): cfn-lint accepts it and refuses broken copies; its user data is
 * images/user-data's template, byte for byte; created in moto, it makes what a fleet file
 * needs: the fleet written from its outputs passes `swanpair validate --ec2` once the
 * TagRouteTablesCommand output has tagged the route tables, the instances have
 * SourceDestCheck off, their own interfaces and associated Elastic IPs, the security group
 * has exactly the documented ingress rules, and each instance's role holds exactly what
 * `swanpair iam-policy` prints for that fleet.
 *
 * moto 5.2.5 ignores some documented properties of AWS::EC2::Instance (NetworkInterfaces,
 * SourceDestCheck) and of AWS::EC2::NetworkInterface (GroupSet, SourceDestCheck): without
 * help it launches the instances into the default VPC with interfaces of their own. SHIM
 * below teaches moto those properties as AWS documents them (the instance's primary interface
 * is the one named at DeviceIndex 0; an instance's SourceDestCheck is that interface's), so
 * that what the template wires together can be checked through the EC2 API. CloudFormation and
 * IAM are reached by signed Query API calls (SigV4 of @smithy/signature-v4, which the EC2
 * client already brings): package.json has no CloudFormation or IAM client.
 */

const ROOT = resolve(import.meta.dirname, "../..");
const TEMPLATE = join(ROOT, "images/cloudformation/swanpair-pair.yaml");
const USER_DATA_TEMPLATE = join(ROOT, "images/user-data/cloud-config.yaml.tmpl");
const RENDER = join(ROOT, "images/user-data/render.sh");
const CFN_LINT = join(ROOT, ".tools/cfn-lint/bin/cfn-lint");
const PYTHON = join(ROOT, ".venv/bin/python");
const REGION = "us-east-1";
const AGENT_API_PORT = 7443;

const dir = await tempDir(t, "swp-cfn-");
const templateText = await readFile(TEMPLATE, "utf8");

// ---------------------------------------------------------------------------------------
// cfn-lint

interface Run {
  code: number;
  out: string;
}

function run(cmd: string, args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      done({ code, out: `${stdout}${stderr}${err && code === -1 ? err.message : ""}` });
    });
  });
}

// scripts/bootstrap.sh installs cfn-lint: without it this test fails, never skips.
if (!existsSync(CFN_LINT))
  throw new Error(`${CFN_LINT} is missing: run scripts/bootstrap.sh to install cfn-lint`);
const lintVersion = await run(CFN_LINT, ["--version"]);
if (lintVersion.code !== 0) throw new Error(`cfn-lint does not run: ${lintVersion.out}`);
t.comment(lintVersion.out.trim());

t.test("cfn-lint accepts the template, and refuses broken copies", async (t) => {
  const good = await run(CFN_LINT, ["--include-checks", "I", "--", TEMPLATE]);
  t.equal(good.code, 0, `no error, warning or informational finding:\n${good.out}`);

  const broken = async (name: string, from: string, to: string) => {
    if (!templateText.includes(from)) throw new Error(`${name}: ${from} is not in the template`);
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, templateText.replace(from, to));
    return run(CFN_LINT, ["--", file]);
  };
  const ref = await broken("bad-ref", "GroupSet: [!Ref SecurityGroup]", "GroupSet: [!Ref Sg]");
  t.not(ref.code, 0, "a reference to no resource is refused");
  t.match(ref.out, /E\d{4} .*Sg/, ref.out);
  const prop = await broken("bad-prop", "SourceDestCheck: false", "SourceDestChek: false");
  t.not(prop.code, 0, "a misspelt property is refused");
  t.match(prop.out, /E\d{4} .*SourceDestChek/, prop.out);
});

// ---------------------------------------------------------------------------------------
// The template as data: CloudFormation's short-form tags as their long forms.

const FUNCTIONS = ["Base64", "Equals", "GetAtt", "If", "Join", "Not", "Select", "Split", "Sub"];
const CFN_TAGS: Tags = [
  { tag: "!Ref", resolve: (value: string) => ({ Ref: value }) },
  ...FUNCTIONS.flatMap((fn) => [
    {
      tag: `!${fn}`,
      resolve: (value: string) =>
        fn === "GetAtt" ? { "Fn::GetAtt": value.split(".") } : { [`Fn::${fn}`]: value },
    },
    {
      tag: `!${fn}`,
      collection: "seq" as const,
      resolve: (seq: { toJSON(): unknown }) => ({ [`Fn::${fn}`]: seq.toJSON() }),
    },
  ]),
];
// biome-ignore lint/suspicious/noExplicitAny: a CloudFormation template is free-form.
const template: any = parse(templateText, { customTags: CFN_TAGS });

t.test("each instance's user data is images/user-data's template, verbatim", async (t) => {
  const tmpl = await readFile(USER_DATA_TEMPLATE, "utf8");
  for (const logical of ["Instance1", "Instance2"]) {
    const userData = template.Resources[logical].Properties.UserData["Fn::If"];
    t.equal(userData[0], "HasUserData");
    const [text, vars] = userData[1]["Fn::Base64"]["Fn::Sub"];
    // render.sh's output is the template and a newline; the YAML block keeps one final newline.
    t.equal(text, tmpl, `${logical}: the cloud-config is cloud-config.yaml.tmpl`);
    t.same(Object.keys(vars).sort(), ["APPLIANCE_NAME", "ARTIFACT", "ARTIFACT_SHA256"]);
    t.same(userData[2], { Ref: "AWS::NoValue" }, `${logical}: none without Artifact`);
  }
});

t.test("the parameters refuse what render.sh refuses", async (t) => {
  // The template's patterns (CloudFormation checks them) against render.sh's own checks.
  const pattern = (name: string) => new RegExp(template.Parameters[name].AllowedPattern);
  const cases: Array<[string, string, string, boolean]> = [
    ["ApplianceName1", "--appliance-name", "a1", true],
    ["ApplianceName1", "--appliance-name", "1a", false],
    ["ApplianceName1", "--appliance-name", "a'1", false],
    ["Artifact", "--artifact", "https://r.example.com/swanpair_0.1.0_amd64.deb?X-Sig=a%2Fb", true],
    ["Artifact", "--artifact", "/opt/swanpair_0.1.0_amd64.deb", true],
    ["Artifact", "--artifact", "http://r.example.com/swanpair.deb", false],
    ["Artifact", "--artifact", "https://r.example.com/a b.deb", false],
    ["Artifact", "--artifact", "https://r.example.com/$(reboot).deb", false],
    ["ArtifactSha256", "--artifact-sha256", "0123456789abcdef".repeat(4), true],
    ["ArtifactSha256", "--artifact-sha256", "0123".repeat(15), false],
  ];
  const good: Record<string, string> = {
    "--appliance-name": "a1",
    "--artifact": "/opt/swanpair.deb",
    "--artifact-sha256": "0".repeat(64),
  };
  for (const [param, flag, value, ok] of cases) {
    t.equal(pattern(param).test(value), ok, `${param} ${ok ? "accepts" : "refuses"} ${value}`);
    const args = Object.entries({ ...good, [flag]: value }).flat();
    const rendered = await spawnCli(RENDER, args);
    t.equal(rendered.code === 0, ok, `render.sh ${flag} ${value}: ${rendered.stderr}`);
  }
});

t.test("the CIDR lists take one to four entries", async (t) => {
  const cidrs = (n: number) => Array.from({ length: n }, (_, i) => `10.${i}.0.0/16`).join(",");
  for (const name of ["PeerCidrs", "FarCidrs", "ControllerCidrs"]) {
    const pattern = new RegExp(template.Parameters[name].AllowedPattern);
    t.same(
      [0, 1, 4, 5].map((n) => pattern.test(cidrs(n))),
      [false, true, true, false],
      name,
    );
    t.notOk(pattern.test("10.0.0.0/16,,10.1.0.0/16"), `${name}: no empty entry`);
    t.notOk(pattern.test("10.0.0.0/16, 10.1.0.0/16"), `${name}: no space`);
  }
});

// ---------------------------------------------------------------------------------------
// moto, taught what moto 5.2.5 leaves out of two resource types.

const SHIM = `
import sys
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ec2.models.instances import Instance

original_instance = Instance.create_from_cloudformation_json.__func__


def flag(value):
    return str(value).lower() == "true"


def eni_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    # AWS::EC2::NetworkInterface: GroupSet and SourceDestCheck, which moto ignores.
    props = cloudformation_json["Properties"]
    ec2 = ec2_backends[account_id][region_name]
    eni = ec2.create_network_interface(
        ec2.get_subnet(props["SubnetId"]),
        props.get("PrivateIpAddress"),
        group_ids=list(props.get("GroupSet", [])),
        description=props.get("Description"),
        tags={tag["Key"]: tag["Value"] for tag in props.get("Tags", [])},
    )
    if "SourceDestCheck" in props:
        eni.source_dest_check = flag(props["SourceDestCheck"])
    return eni


def instance_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    # AWS::EC2::Instance with NetworkInterfaces: that interface is the primary one, the
    # instance is in its subnet with its groups, and its SourceDestCheck is the interface's.
    props = cloudformation_json["Properties"]
    nics = props.get("NetworkInterfaces")
    if not nics:
        return original_instance(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    ec2 = ec2_backends[account_id][region_name]
    primary = next(n for n in nics if str(n["DeviceIndex"]) == "0")
    eni = ec2.get_network_interface(primary["NetworkInterfaceId"])
    address = eni.private_ip_address
    eni.subnet._subnet_ips.pop(address, None)  # the instance takes the interface's address
    reservation = ec2.run_instances(
        image_id=props["ImageId"],
        user_data=props.get("UserData"),
        count=1,
        security_group_names=[],
        instance_type=props.get("InstanceType", "m1.small"),
        is_instance_type_default=not props.get("InstanceType"),
        nics=[{"NetworkInterfaceId": eni.id, "DeviceIndex": 0, "SubnetId": eni.subnet.id,
               "PrivateIpAddress": address}],
    )
    instance = reservation.instances[0]
    instance.security_groups = list(eni._group_set)
    instance.source_dest_check = eni.source_dest_check
    for tag in props.get("Tags", []):
        instance.add_tag(tag["Key"], tag["Value"])
    if props.get("IamInstanceProfile"):
        ec2.associate_iam_instance_profile(
            instance_id=instance.id, iam_instance_profile_name=props["IamInstanceProfile"])
    return instance


NetworkInterface.create_from_cloudformation_json = classmethod(eni_from_cfn)
Instance.create_from_cloudformation_json = classmethod(instance_from_cfn)

from moto.server import main

main(sys.argv[1:])
`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", done);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

async function startShimmedMoto(): Promise<string> {
  if (!existsSync(PYTHON))
    throw new Error(`${PYTHON} is missing: run scripts/bootstrap.sh to install moto`);
  useFakeCredentials(t);
  // "moto_server" in its command line: CI's clean-up of leftover moto servers finds it too.
  const shim = join(dir, "moto_server_cfn_shim.py");
  await writeFile(shim, SHIM);
  const port = await freePort();
  const child: ChildProcess = spawn(PYTHON, [shim, "-H", "127.0.0.1", "-p", String(port)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  t.teardown(() => stopChild(child));
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto exited during startup: ${stderr}`);
    try {
      const res = await fetch(`${endpoint}/`, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.ok) return endpoint;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`moto did not answer: ${stderr}`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

const endpoint = await startShimmedMoto();
const ec2 = new EC2Client({ region: REGION, endpoint });
t.teardown(() => ec2.destroy());

/** SHA-256 and HMAC-SHA-256 for the signer, from node:crypto. */
class Sha256 {
  readonly #hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash = secret === undefined ? createHash("sha256") : createHmac("sha256", bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
}
function bytes(data: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === "string") return Buffer.from(data, "utf8");
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

const API_VERSIONS = { cloudformation: "2010-05-15", iam: "2010-05-08" } as const;

/** One signed AWS Query API call to moto; the XML answer, or an error with it. */
async function query(
  service: keyof typeof API_VERSIONS,
  params: Record<string, string>,
): Promise<string> {
  const url = new URL(endpoint);
  const body = new URLSearchParams({ ...params, Version: API_VERSIONS[service] }).toString();
  const signer = new SignatureV4({
    service,
    region: REGION,
    sha256: Sha256,
    credentials: {
      accessKeyId: FAKE_CREDENTIALS.AWS_ACCESS_KEY_ID,
      secretAccessKey: FAKE_CREDENTIALS.AWS_SECRET_ACCESS_KEY,
      sessionToken: FAKE_CREDENTIALS.AWS_SESSION_TOKEN,
    },
  });
  const signed = await signer.sign({
    method: "POST",
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: "/",
    query: {},
    headers: { host: url.host, "content-type": "application/x-www-form-urlencoded" },
    body,
  });
  const { host: _host, ...headers } = signed.headers; // fetch sends the same Host itself
  const res = await fetch(url, { method: "POST", headers, body });
  const text = await res.text();
  if (!res.ok) throw new Error(`${service} ${params.Action}: HTTP ${res.status}: ${text}`);
  return text;
}

const unxml = (s: string) =>
  s
    .replaceAll("&quot;", '"')
    .replaceAll("&apos;", "'")
    .replaceAll("&#39;", "'")
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&amp;", "&");
/** The text of every <tag> element (leaf elements only). */
const xmlAll = (xml: string, tag: string) =>
  [...xml.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, "g"))].map((m) => unxml(m[1] ?? ""));
const xmlOne = (xml: string, tag: string) => {
  const [value, ...more] = xmlAll(xml, tag);
  if (value === undefined || more.length > 0)
    throw new Error(`expected one <${tag}> in ${xml.slice(0, 2000)}`);
  return value;
};

/** CreateStack, then DescribeStacks until CREATE_COMPLETE; the outputs by key. */
async function createStack(
  name: string,
  parameters: Record<string, string>,
): Promise<Record<string, string>> {
  const params: Record<string, string> = {
    Action: "CreateStack",
    StackName: name,
    TemplateBody: templateText,
    "Capabilities.member.1": "CAPABILITY_IAM",
  };
  for (const [n, [key, value]] of Object.entries(parameters).entries()) {
    params[`Parameters.member.${n + 1}.ParameterKey`] = key;
    params[`Parameters.member.${n + 1}.ParameterValue`] = value;
  }
  await query("cloudformation", params);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const xml = await query("cloudformation", { Action: "DescribeStacks", StackName: name });
    const status = xmlOne(xml, "StackStatus");
    if (status === "CREATE_COMPLETE") {
      const keys = xmlAll(xml, "OutputKey");
      const values = xmlAll(xml, "OutputValue");
      return Object.fromEntries(keys.map((k, i) => [k, values[i] ?? ""]));
    }
    if (!status.endsWith("_IN_PROGRESS") || Date.now() > deadline)
      throw new Error(`stack ${name}: ${status}: ${xml}`);
    await new Promise((done) => setTimeout(done, 200));
  }
}

// ---------------------------------------------------------------------------------------
// The world: VPC A for the stack (public subnets in two zones, two untagged route tables the
// fleet will manage), and VPC B's pair seeded with the tests' helper.

const TAG = { key: "swanpair:fleet", value: "cfn-test" };
const vpcA = {
  cidr: "10.1.0.0/16",
  id: (await ec2.send(new CreateVpcCommand({ CidrBlock: "10.1.0.0/16" }))).Vpc?.VpcId ?? "",
};
const igw =
  (await ec2.send(new CreateInternetGatewayCommand({}))).InternetGateway?.InternetGatewayId ?? "";
await ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpcA.id }));
const newTable = async () =>
  (await ec2.send(new CreateRouteTableCommand({ VpcId: vpcA.id }))).RouteTable?.RouteTableId ?? "";
const publicTable = await newTable();
await ec2.send(
  new CreateRouteCommand({
    RouteTableId: publicTable,
    DestinationCidrBlock: "0.0.0.0/0",
    GatewayId: igw,
  }),
);
const subnets: string[] = [];
for (const [n, az] of [`${REGION}a`, `${REGION}b`].entries()) {
  const subnet = await ec2.send(
    new CreateSubnetCommand({
      VpcId: vpcA.id,
      CidrBlock: `10.1.${n + 1}.0/24`,
      AvailabilityZone: az,
    }),
  );
  const SubnetId = subnet.Subnet?.SubnetId ?? "";
  await ec2.send(new AssociateRouteTableCommand({ RouteTableId: publicTable, SubnetId }));
  subnets.push(SubnetId);
}
const managedTables = [await newTable(), await newTable()];
const image =
  (await ec2.send(new DescribeImagesCommand({}))).Images?.find((i) => i.Architecture === "x86_64")
    ?.ImageId ?? "";

const seed = await seedFleet(ec2, {
  tag: TAG,
  vpcs: [{ name: "vpc-b", cidrs: ["10.2.0.0/16"] }],
  connections: [],
});
const far = fleetTree(seededFleet(seed, endpoint));
const farPair = far.pairs[0].name as string;

const pki = await makeTestPki(dir);
const ARTIFACT = "https://releases.example.com/swanpair/swanpair_0.1.0_amd64.deb";
const SHA = "0123456789abcdef".repeat(4);

/** The fleet file an operator writes from a stack's outputs (docs/install.md). */
function fleetFromOutputs(out: Record<string, string>, extra: Tree = {}): Tree {
  const appliance = (i: 1 | 2) => ({
    name: out[`Appliance${i}Name`],
    vpc: "vpc-a",
    instanceId: out[`Appliance${i}InstanceId`],
    eni: out[`Appliance${i}Eni`],
    az: out[`Appliance${i}Az`],
    agent: `https://${out[`Appliance${i}PrivateIp`]}:${AGENT_API_PORT}`,
    address: { private: out[`Appliance${i}PrivateIp`], public: out[`Appliance${i}PublicIp`] },
  });
  return {
    ...far,
    tag: TAG,
    tls: pki.client,
    vpcs: [
      { name: "vpc-a", id: vpcA.id, cidrs: [vpcA.cidr], routeTables: managedTables },
      ...far.vpcs,
    ],
    appliances: [appliance(1), appliance(2), ...far.appliances],
    pairs: [{ name: "pair-a", members: [out.Appliance1Name, out.Appliance2Name] }, ...far.pairs],
    connections: [{ name: "a-b", between: ["pair-a", farPair] }],
    ...extra,
  };
}

const describeInstance = async (id: string): Promise<Instance> => {
  const res = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  const found = res.Reservations?.[0]?.Instances?.[0];
  if (!found) throw new Error(`${id}: not found`);
  return found;
};

/** The inline policies of an instance's role, by name, from IAM (and no attached ones). */
async function rolePolicies(instanceId: string): Promise<Record<string, unknown>> {
  const arn = (await describeInstance(instanceId)).IamInstanceProfile?.Arn ?? "";
  const profile = arn.split("/").pop() ?? "";
  const roles = xmlAll(
    await query("iam", { Action: "GetInstanceProfile", InstanceProfileName: profile }),
    "RoleName",
  );
  if (roles.length !== 1) throw new Error(`${profile}: roles ${roles.join(", ")}`);
  const RoleName = roles[0] ?? "";
  const attached = xmlAll(
    await query("iam", { Action: "ListAttachedRolePolicies", RoleName }),
    "PolicyArn",
  );
  if (attached.length > 0) throw new Error(`${RoleName}: managed policies ${attached.join(", ")}`);
  const names = xmlAll(await query("iam", { Action: "ListRolePolicies", RoleName }), "member");
  const policies: Record<string, unknown> = {};
  for (const PolicyName of names) {
    const xml = await query("iam", { Action: "GetRolePolicy", RoleName, PolicyName });
    const document = xmlOne(xml, "PolicyDocument");
    // IAM sends it URL-encoded; moto may not.
    policies[PolicyName] = JSON.parse(
      document.trimStart().startsWith("{") ? document : decodeURIComponent(document),
    );
  }
  return policies;
}

async function iamPolicy(fleetFile: string, appliance?: string): Promise<unknown> {
  const args = ["iam-policy", "--config", fleetFile];
  if (appliance) args.push("--appliance", appliance);
  const res = await swanpair(...args);
  if (res.code !== 0) throw new Error(`swanpair ${args.join(" ")}: ${res.stderr}`);
  return JSON.parse(res.stdout);
}

/** The ingress rules as "protocol port source" lines, sorted. */
function ingressRules(permissions: IpPermission[] = []): string[] {
  return permissions
    .flatMap((p) =>
      (p.IpRanges ?? []).map((r) =>
        p.IpProtocol === "-1"
          ? `all ${r.CidrIp}`
          : `${p.IpProtocol} ${p.FromPort}${p.ToPort === p.FromPort ? "" : `-${p.ToPort}`} ${r.CidrIp}`,
      ),
    )
    .sort();
}

// ---------------------------------------------------------------------------------------
// The stack as a site-to-site pair would be deployed.

const PEERS = ["198.51.100.20/32", "198.51.100.21/32"];
/** The parameters every stack here shares: vpc-a, its subnets and tables, the image. */
const inVpcA = {
  VpcId: vpcA.id,
  VpcCidr: vpcA.cidr,
  SubnetId1: subnets[0] ?? "",
  SubnetId2: subnets[1] ?? "",
  RouteTableIds: managedTables.join(","),
  ImageId: image,
};
const stack = await createStack("swanpair-pair-a", {
  ...inVpcA,
  ApplianceName1: "a1",
  ApplianceName2: "a2",
  Artifact: ARTIFACT,
  ArtifactSha256: SHA,
  TagValue: TAG.value,
  PeerCidrs: PEERS.join(","),
  FarCidrs: "10.2.0.0/16",
  ControllerCidrs: `${vpcA.cidr},10.2.0.0/16`,
});
const fleetFile = join(dir, "fleet.yaml");
await writeFile(fleetFile, stringify(fleetFromOutputs(stack)));

t.test("the outputs give everything a fleet file needs", async (t) => {
  for (const i of [1, 2]) {
    t.match(stack[`Appliance${i}InstanceId`], /^i-[0-9a-f]+$/);
    t.match(stack[`Appliance${i}Eni`], /^eni-[0-9a-f]+$/);
    t.match(stack[`Appliance${i}PrivateIp`], new RegExp(`^10\\.1\\.${i}\\.\\d+$`));
    t.match(stack[`Appliance${i}PublicIp`], /^\d+\.\d+\.\d+\.\d+$/);
  }
  t.same([stack.Appliance1Az, stack.Appliance2Az], [`${REGION}a`, `${REGION}b`], "two zones");
  const res = await swanpair("validate", "--config", fleetFile);
  t.equal(res.code, 0, `the fleet file loads:\n${res.stdout}${res.stderr}`);
});

t.test("validate --ec2: refused until TagRouteTablesCommand has run, then exit 0", async (t) => {
  const before = await swanpair("validate", "--config", fleetFile, "--ec2");
  t.equal(before.code, 2, "the managed tables lack the fleet tag");
  for (const table of managedTables)
    t.match(before.stdout + before.stderr, new RegExp(`${table}.*route-table-untagged`));

  // The command an operator runs, carried out through the EC2 API.
  const command = stack.TagRouteTablesCommand ?? "";
  const m = /^aws ec2 create-tags --region (\S+) --resources ((?:rtb-\S+ ?)+) --tags '(.*)'$/.exec(
    command,
  );
  if (!m) throw new Error(`unexpected TagRouteTablesCommand: ${command}`);
  t.equal(m[1], REGION);
  const resources = (m[2] ?? "").trim().split(" ");
  t.same(resources, managedTables, "the managed tables, all of them");
  const tags = JSON.parse(m[3] ?? "");
  t.same(tags, [{ Key: TAG.key, Value: TAG.value }], "the fleet tag");
  await ec2.send(new CreateTagsCommand({ Resources: resources, Tags: tags }));

  const after = await swanpair("validate", "--config", fleetFile, "--ec2", "--json");
  t.equal(after.code, 0, `valid against EC2:\n${after.stdout}${after.stderr}`);
  const report = JSON.parse(after.stdout);
  t.equal(report.ok, true);
  t.same([...report.errors, ...report.warnings], [], "no error, no warning (same-az neither)");
});

t.test("instances: their own interfaces, SourceDestCheck off, Elastic IPs", async (t) => {
  const sg = stack.SecurityGroupId ?? "";
  const addresses = (await ec2.send(new DescribeAddressesCommand({}))).Addresses ?? [];
  for (const i of [1, 2]) {
    const id = stack[`Appliance${i}InstanceId`] ?? "";
    const eni = stack[`Appliance${i}Eni`] ?? "";
    const instance = await describeInstance(id);
    t.equal(instance.SourceDestCheck, false, `${id}: SourceDestCheck off`);
    t.equal(instance.VpcId, vpcA.id);
    t.equal(instance.SubnetId, subnets[i - 1]);
    t.equal(instance.Placement?.AvailabilityZone, stack[`Appliance${i}Az`]);
    t.same(
      instance.SecurityGroups?.map((g) => g.GroupId),
      [sg],
    );
    t.same(
      instance.NetworkInterfaces?.map((n) => [n.NetworkInterfaceId, n.Attachment?.DeviceIndex]),
      [[eni, 0]],
      "one interface, the stack's, as the primary",
    );
    const [nic] =
      (await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eni] })))
        .NetworkInterfaces ?? [];
    t.equal(nic?.SourceDestCheck, false, `${eni}: SourceDestCheck off`);
    t.equal(nic?.PrivateIpAddress, stack[`Appliance${i}PrivateIp`]);
    t.same(
      nic?.Groups?.map((g) => g.GroupId),
      [sg],
      "only the stack's security group",
    );
    const eip = addresses.filter((a) => a.InstanceId === id);
    t.equal(eip.length, 1, `${id}: one Elastic IP`);
    t.equal(eip[0]?.PublicIp, stack[`Appliance${i}PublicIp`]);
    t.equal(eip[0]?.NetworkInterfaceId, eni, "on the stack's interface");
    t.equal(eip[0]?.Domain, "vpc");
    t.ok(eip[0]?.AssociationId, "associated");
  }
});

t.test("the security group: exactly the documented ingress rules", async (t) => {
  const [group] =
    (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [stack.SecurityGroupId ?? ""] })))
      .SecurityGroups ?? [];
  t.equal(group?.VpcId, vpcA.id);
  t.same(
    ingressRules(group?.IpPermissions),
    [
      ...PEERS.flatMap((p) => [`udp 500 ${p}`, `udp 4500 ${p}`]),
      `udp ${PROBE_PORT} ${vpcA.cidr}`,
      `udp ${PROBE_PORT} 10.2.0.0/16`,
      `tcp ${AGENT_API_PORT} ${vpcA.cidr}`,
      `tcp ${AGENT_API_PORT} 10.2.0.0/16`,
      `all ${vpcA.cidr}`,
    ].sort(),
  );
  t.same(ingressRules(group?.IpPermissionsEgress), ["all 0.0.0.0/0"], "egress: EC2's default");
});

t.test("each instance's user data is render.sh's for its appliance", async (t) => {
  for (const i of [1, 2]) {
    const res = await ec2.send(
      new DescribeInstanceAttributeCommand({
        InstanceId: stack[`Appliance${i}InstanceId`],
        Attribute: "userData",
      }),
    );
    const userData = Buffer.from(res.UserData?.Value ?? "", "base64").toString("utf8");
    const name = stack[`Appliance${i}Name`] ?? "";
    const rendered = await spawnCli(RENDER, [
      "--appliance-name",
      name,
      "--artifact",
      ARTIFACT,
      "--artifact-sha256",
      SHA,
    ]);
    t.equal(rendered.code, 0, rendered.stderr);
    t.equal(userData, rendered.stdout, `${name}: the same bytes`);
  }
});

t.test("each role's policies are `swanpair iam-policy`'s for the fleet", async (t) => {
  const controller = await iamPolicy(fleetFile);
  for (const i of [1, 2]) {
    const name = stack[`Appliance${i}Name`] ?? "";
    const policies = await rolePolicies(stack[`Appliance${i}InstanceId`] ?? "");
    t.same(Object.keys(policies).sort(), ["swanpair-controller", "swanpair-keys"]);
    t.strictSame(policies["swanpair-controller"], controller, `${name}: the controller's`);
    t.strictSame(
      policies["swanpair-keys"],
      await iamPolicy(fleetFile, name),
      `${name}: its own keys`,
    );
  }
});

// ---------------------------------------------------------------------------------------
// The other branches: no user data, the default peers, four far CIDRs, other ports, the VPC's
// traffic let in, another tag and a key prefix of its own.

t.test("the other parameters: each branch as documented", async (t) => {
  const FAR = ["10.2.0.0/16", "10.3.0.0/16", "10.4.0.0/16", "10.5.0.0/16"];
  const CONTROLLERS = ["10.1.9.0/24", "10.2.9.0/24", "10.3.9.0/24", "10.4.9.0/24"];
  const tag = { key: "team:vpn", value: "hub" };
  const out = await createStack("swanpair-pair-x", {
    ...inVpcA,
    ApplianceName1: "x1",
    ApplianceName2: "x2",
    TagKey: tag.key,
    TagValue: tag.value,
    KeyPrefix: "/corp/vpn",
    FarCidrs: FAR.join(","),
    ControllerCidrs: CONTROLLERS.join(","),
    ProbePort: "7300",
    AgentApiPort: "8443",
    ForwardVpcTraffic: "no",
  });
  const [group] =
    (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [out.SecurityGroupId ?? ""] })))
      .SecurityGroups ?? [];
  t.same(
    ingressRules(group?.IpPermissions),
    [
      "udp 500 0.0.0.0/0",
      "udp 4500 0.0.0.0/0",
      ...[vpcA.cidr, ...FAR].map((c) => `udp 7300 ${c}`),
      ...CONTROLLERS.map((c) => `tcp 8443 ${c}`),
    ].sort(),
  );
  for (const i of [1, 2]) {
    const res = await ec2.send(
      new DescribeInstanceAttributeCommand({
        InstanceId: out[`Appliance${i}InstanceId`],
        Attribute: "userData",
      }),
    );
    t.notOk(res.UserData?.Value, "no user data without Artifact");
  }
  t.match(out.TagRouteTablesCommand, `'[{"Key":"team:vpn","Value":"hub"}]'`);

  const file = join(dir, "fleet-x.yaml");
  await writeFile(
    file,
    stringify(fleetFromOutputs(out, { tag, keys: { ssm: { prefix: "/corp/vpn" } } })),
  );
  const controller = await iamPolicy(file);
  for (const i of [1, 2]) {
    const name = out[`Appliance${i}Name`] ?? "";
    const policies = await rolePolicies(out[`Appliance${i}InstanceId`] ?? "");
    t.strictSame(policies["swanpair-controller"], controller, `${name}: the controller's`);
    t.strictSame(policies["swanpair-keys"], await iamPolicy(file, name), `${name}: its keys`);
  }
});
