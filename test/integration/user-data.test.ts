import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import t from "tap";
import { parse, stringify } from "yaml";
import { loadConfigText } from "../../agent/src/config/load.ts";
import { ImdsClient } from "../../common/imds/client.ts";
import { discoverInstance } from "../../common/imds/discover.ts";
import { fakeSsm } from "../helpers/fake-ssm.ts";
import { INSTANCE, startImdsServer } from "../helpers/imds-server.ts";
import { spawnCli } from "../helpers/swanpair-bin.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * images/user-data (issue 12, item 5): render.sh fills the cloud-config template, Debian's
 * cloud-init accepts the result (`cloud-init schema`), the agent config it writes loads with
 * the agent's own loader (addresses and region from a fake IMDS), and the renderer refuses
 * parameters that could break the YAML or the first-boot script.
 */
const IMAGES = resolve(import.meta.dirname, "../../images");
const RENDER = join(IMAGES, "user-data/render.sh");
const dir = await tempDir(t, "swp-user-data-");

const GOOD: Record<string, string> = {
  "--appliance-name": "a1",
  "--artifact": "https://releases.example.com/swanpair/swanpair_0.1.0_amd64.deb",
  "--artifact-sha256": "0123456789abcdef".repeat(4),
};

function render(params: Record<string, string | undefined>) {
  const args = Object.entries(params).flatMap(([k, v]) => (v === undefined ? [] : [k, v]));
  return spawnCli(RENDER, args);
}

/** Runs cloud-init; rejects with how to install it when it is missing (CI installs it). */
function cloudInit(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((done, fail) => {
    execFile("cloud-init", args, (error, stdout, stderr) => {
      if ((error as NodeJS.ErrnoException | null)?.code === "ENOENT") {
        fail(
          new Error("cloud-init is not installed: apt-get install cloud-init (Debian 12: 22.4)"),
        );
        return;
      }
      done({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr });
    });
  });
}

/** The exact check of Debian 12's cloud-init 22.4 (`schema --config-file`). */
const schema = (file: string) => cloudInit(["schema", "-c", file]);

interface WriteFile {
  path: string;
  content: string;
  permissions?: string;
  owner?: string;
}

async function renderGood(params = GOOD) {
  const r = await render(params);
  if (r.code !== 0) throw new Error(`render.sh failed: ${r.stderr}`);
  const doc = parse(r.stdout) as { write_files: WriteFile[]; runcmd: unknown[] };
  const files = new Map(doc.write_files.map((f) => [f.path, f]));
  const file = (path: string) => {
    const f = files.get(path);
    if (!f) throw new Error(`the user data writes no ${path}`);
    return f;
  };
  return { text: r.stdout, doc, file };
}

t.test("cloud-init is installed", async (t) => {
  const r = await cloudInit(["--version"]);
  t.comment(r.output.trim());
  t.equal(r.code, 0);
});

t.test("the rendered user data passes cloud-init schema", async (t) => {
  const { text, doc } = await renderGood();
  t.ok(text.startsWith("#cloud-config\n"), "a cloud-config document");
  t.notMatch(text, /\$\{[A-Z0-9_]+\}/, "every parameter is filled");
  t.same(doc.runcmd, [["/usr/local/sbin/swanpair-first-boot"]]);
  // cloud-init 22.4 ignores an unknown top-level key (a misspelled module): pin them.
  t.same(Object.keys(doc).sort(), ["package_update", "packages", "runcmd", "write_files"]);
  const file = join(dir, "user-data.yaml");
  await writeFile(file, text);
  const r = await schema(file);
  t.equal(r.code, 0, r.output);
  t.match(r.output, /Valid cloud-config/);
});

t.test("a broken cloud-config fails cloud-init schema", async (t) => {
  const { text } = await renderGood();
  // 22.4 refuses unknown keys inside a module's section and wrong types, but lets an unknown
  // top-level key pass: the test above pins the top-level keys instead.
  const broken: Array<[string, string, RegExp]> = [
    [`permissions: "0600"`, `permission: "0600"`, /'permission' was unexpected/],
    ["package_update: true", "package_update: sometimes", /package_update: 'sometimes'/],
  ];
  for (const [from, to, message] of broken) {
    const file = join(dir, "broken.yaml");
    await writeFile(file, text.replace(from, to));
    const r = await schema(file);
    t.not(r.code, 0, `${to}: refused`);
    t.match(r.output, message);
  }
});

t.test("the agent config it writes loads with the agent's loader", async (t) => {
  const { file } = await renderGood();
  const agent = file("/etc/swanpair/agent.yaml");
  t.equal(agent.permissions, "0600");
  t.equal(agent.owner, "root:root");
  const imds = await startImdsServer(t);
  const discover = () => discoverInstance(new ImdsClient({ endpoint: imds.endpoint }));
  const r = await loadConfigText(agent.content, undefined, undefined, discover);
  if (!r.ok) throw new Error(`refused: ${JSON.stringify(r.issues)}`);
  t.same(r.config.appliance, {
    name: "a1",
    localAddress: INSTANCE.privateIp,
    publicAddress: INSTANCE.publicIp,
  });
  t.equal(r.config.datapath, "kernel");
  t.equal(r.config.charon.vici, "/run/swanpair-charon/charon.vici", "the packaged units' socket");

  // A tunnel added later takes its key from SSM, in the discovered region.
  const tree = parse(agent.content);
  tree.tunnels = [
    {
      name: "b1",
      type: "peer",
      remoteAddress: "198.51.100.20",
      psk: { ssm: "/swanpair/prod-east/psk/a1/b1" },
      localSubnets: ["10.1.0.0/16"],
      remoteSubnets: ["10.2.0.0/16"],
      ifId: 1,
    },
  ];
  const ssm = fakeSsm();
  const withTunnel = await loadConfigText(stringify(tree), undefined, ssm.fetch, discover);
  t.ok(withTunnel.ok, JSON.stringify(withTunnel.ok ? "" : withTunnel.issues));
  t.same(
    ssm.asked.map((a) => [a.region, a.names]),
    [[INSTANCE.region, ["/swanpair/prod-east/psk/a1/b1"]]],
    "ssm.region from IMDS",
  );
});

t.test("the kernel datapath drop-in is the package's example", async (t) => {
  const { file } = await renderGood();
  const example = await readFile(join(IMAGES, "package/examples/systemd/kernel-datapath.conf"));
  const dropIn = file("/etc/systemd/system/swanpair-agent.service.d/kernel-datapath.conf");
  t.equal(dropIn.content, example.toString());
  t.equal(file("/etc/modules-load.d/swanpair.conf").content, "xfrm_interface\n");
  t.match(file("/etc/sysctl.d/60-swanpair.conf").content, /^net\.ipv4\.ip_forward = 1$/m);
});

t.test("the first-boot script gets the parameters, and shellcheck passes it", async (t) => {
  // A presigned URL's query: & is the matched text in bash 5.2's ${x//a/b} unless quoted.
  const url =
    "https://bucket.s3.amazonaws.com/swanpair.deb?X-Amz-Expires=300&X-Amz-Signature=ab%2F";
  const { file } = await renderGood({ ...GOOD, "--artifact": url });
  const script = file("/usr/local/sbin/swanpair-first-boot");
  t.equal(script.permissions, "0700");
  t.match(script.content, `artifact='${url}'\n`);
  t.match(script.content, `sha256='${GOOD["--artifact-sha256"]}'\n`);
  const path = join(dir, "first-boot.sh");
  await writeFile(path, script.content);
  const r = await spawnCli("shellcheck", [path]);
  t.equal(r.code, 0, r.stdout + r.stderr);

  const upper = await renderGood({ ...GOOD, "--artifact-sha256": "ABCDEF0123456789".repeat(4) });
  t.match(
    upper.file("/usr/local/sbin/swanpair-first-boot").content,
    `sha256='${"abcdef0123456789".repeat(4)}'`,
    "lower case, as sha256sum prints it",
  );
  const local = await renderGood({ ...GOOD, "--artifact": "/var/cache/swanpair_0.1.0_amd64.deb" });
  t.match(
    local.file("/usr/local/sbin/swanpair-first-boot").content,
    "artifact='/var/cache/swanpair_0.1.0_amd64.deb'",
    "a path on the instance",
  );
});

t.test("the renderer refuses bad parameters, naming them", async (t) => {
  const cases: Array<[string, Record<string, string | undefined>, RegExp]> = [
    ["no name", { "--appliance-name": undefined }, /--appliance-name is required/],
    ["no artifact", { "--artifact": undefined }, /--artifact is required/],
    ["no checksum", { "--artifact-sha256": undefined }, /--artifact-sha256 is required/],
    ["a name with a space", { "--appliance-name": "a 1" }, /--appliance-name 'a 1' is not a name/],
    [
      "a name with YAML in it",
      { "--appliance-name": "a1\nx: y" },
      /--appliance-name .* is not a name/s,
    ],
    ["a short checksum", { "--artifact-sha256": "abc123" }, /--artifact-sha256 'abc123' is not/],
    ["http://", { "--artifact": "http://example.com/s.deb" }, /--artifact .* is http:/],
    ["a quote in the URL", { "--artifact": "https://x.example/a'b.deb" }, /--artifact .* neither/],
    ["a relative path", { "--artifact": "swanpair.deb" }, /--artifact 'swanpair.deb' is neither/],
  ];
  for (const [name, change, message] of cases) {
    const r = await render({ ...GOOD, ...change });
    t.equal(r.code, 2, `${name}: exit 2`);
    t.match(r.stderr, message, name);
    t.equal(r.stdout, "", `${name}: nothing on stdout`);
  }
  const unknown = await render({ ...GOOD, "--region": "us-east-1" });
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown argument '--region'/);
});
