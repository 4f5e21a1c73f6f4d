import { execFile } from "node:child_process";
import { promisify } from "node:util";
import t from "tap";
import { DATAPATHS, pluginsFor } from "../../agent/src/render/plugins.ts";
import { ensureLabImage } from "../../control-plane/src/lab/images.ts";
import pkg from "../../package.json" with { type: "json" };

/**
 * The failover lab's image, built without a registry: a second call finds it, and what the
 * lab relies on is in it (both programs, tini as PID 1, every plugin the agent loads, NAT
 * with iptables, a passing doctor). Needs a Docker daemon; builds take a minute when cold.
 */
const run = promisify(execFile);
const docker = async (...args: string[]) => (await run("docker", args)).stdout.trim();
const CONTAINER = `swp-labimg-${process.pid}`;
const PLUGIN_DIR = "/usr/lib/ipsec/plugins";

t.setTimeout(600_000);
const daemon = await docker("version", "--format", "{{.Server.Version}}").then(
  () => "",
  (err: { stderr?: string }) => err.stderr?.trim() || String(err),
);
if (daemon) t.bailout(`these tests need a Docker daemon, and none answers: ${daemon}`);

let image = "";

t.test("ensureLabImage builds the image, or finds it", async (t) => {
  image = await ensureLabImage({ progress: (line) => t.comment(line) });
  t.match(image, /^swanpair\/appliance:[0-9a-f]{16}$/);
  const config = JSON.parse(
    await docker("image", "inspect", "--format", "{{json .Config}}", image),
  );
  t.same(config.Entrypoint, ["/usr/bin/tini", "--"]);
  t.same(config.Cmd, ["swanpair-agent", "run", "--config", "/etc/swanpair/agent.yaml"]);
  t.comment(`size: ${await docker("image", "inspect", "--format", "{{.Size}}", image)} bytes`);
});

t.test("a second call is a cache hit: same image, nothing built", async (t) => {
  const id = await docker("image", "inspect", "--format", "{{.Id}}", image);
  const lines: string[] = [];
  t.equal(await ensureLabImage({ progress: (line) => lines.push(line) }), image);
  t.equal(await docker("image", "inspect", "--format", "{{.Id}}", image), id);
  t.notOk(
    lines.some((l) => /^(building|Step )/.test(l)),
    `nothing was built: ${lines.join(" | ")}`,
  );
  t.ok(lines.includes(`${image} is up to date`));
});

t.test("in a container of it", async (t) => {
  t.teardown(() => run("docker", ["rm", "--force", CONTAINER]).catch(() => {}));
  await docker(
    ...["run", "--detach", "--rm", "--name", CONTAINER, "--network", "none"],
    ...["--cap-add", "NET_ADMIN", "--device", "/dev/net/tun", image, "sleep", "infinity"],
  );
  const sh = async (script: string) => docker("exec", CONTAINER, "sh", "-c", script);

  t.test("both programs run from PATH, the AWS SDK bundled in", async (t) => {
    t.equal(await sh("swanpair-agent --version"), pkg.version);
    t.equal(await sh("swanpair --version"), pkg.version);
    t.match(await sh("swanpair --help"), /Usage: swanpair /);
    t.match(await sh("swanpair validate --help"), /Usage: swanpair validate/);
  });

  t.test("tini is PID 1", async (t) => {
    t.equal(await sh("cat /proc/1/comm"), "tini");
  });

  t.test("every plugin the agent loads is installed", async (t) => {
    const installed = new Set((await sh(`ls ${PLUGIN_DIR}`)).split("\n"));
    for (const plugin of new Set(DATAPATHS.flatMap(pluginsFor))) {
      t.ok(installed.has(`libstrongswan-${plugin}.so`), plugin);
    }
  });

  t.test("iptables NAT works with NET_ADMIN", async (t) => {
    await sh("iptables -t nat -A POSTROUTING -o lo -j MASQUERADE");
    t.match(await sh("iptables -t nat -S POSTROUTING"), "-A POSTROUTING -o lo -j MASQUERADE");
  });

  t.test("doctor passes for a libipsec config", async (t) => {
    const config = [
      "appliance: { name: a1, localAddress: 10.0.0.2 }",
      "datapath: libipsec",
      "stateDir: /run/swanpair",
      "api: { socket: /run/swanpair/agent.sock }",
    ].join("\n");
    await sh(`mkdir -p /etc/swanpair && printf '%s\\n' '${config}' > /etc/swanpair/agent.yaml`);
    const report = JSON.parse(
      await sh("swanpair-agent doctor --config /etc/swanpair/agent.yaml --json"),
    );
    t.same(
      report.checks.filter((c: { status: string }) => c.status !== "pass"),
      [],
      "every check passes",
    );
    t.ok(report.ok);
    const ids = report.checks.map((c: { id: string }) => c.id);
    t.ok(ids.includes("tun-device") && ids.includes("plugin:kernel-libipsec"), ids.join(" "));
  });
});
