import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { DeleteParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import t from "tap";
import { stringify } from "yaml";
import { AGENT_BIN, AgentLab, waitFor } from "../helpers/agent-lab.ts";
import { startMoto } from "../helpers/moto.ts";
import { bridgeIntoNetns } from "../helpers/ns-bridge.ts";

/**
 * The agent takes its keys from SSM Parameter Store (moto's, reached from the namespaces
 * through a bridge): `validate` fetches them as `run` does, a key that is missing or breaks the
 * PSK rules is an error with its field path and without its text, a real tunnel comes up on
 * keys that live only in SSM, a reload that cannot fetch a key keeps the running config, and no
 * key is ever written to the agent's state directory or its log.
 */

const run = promisify(execFile);
const REGION = "eu-west-1";
const moto = await startMoto(t);
const ssm = new SSMClient({ region: REGION, endpoint: moto.endpoint });
t.teardown(() => ssm.destroy());

const lab = await AgentLab.create("swp-ssmk", { subnets: 1 });
t.teardown(async () => {
  if (!t.passing()) {
    for (const side of ["a", "b"] as const)
      t.comment(
        `agent ${side} log (tail):\n${(await lab.log(side)).split("\n").slice(-30).join("\n")}`,
      );
  }
  await lab.cleanup();
});
await bridgeIntoNetns(t, lab.dir, Number(new URL(moto.endpoint).port), [lab.ns("a"), lab.ns("b")]);

const KEY = randomBytes(32);
const KEY_TEXT = `0s${KEY.toString("base64")}`;
const PARAMETER = "/swanpair/lab/psk/a1/b1";
const put = (Name: string, Value: string, Type: "SecureString" | "String" = "SecureString") =>
  ssm.send(new PutParameterCommand({ Name, Value, Type, Overwrite: true }));
await put(PARAMETER, KEY_TEXT);

/** Side's config with its tunnel's key in SSM parameter `name`. */
function ssmConfig(side: "a" | "b", name = PARAMETER) {
  return {
    ...lab.config(side, [{ name: "one", subnet: 0, extra: { psk: { ssm: name } } }]),
    ssm: { region: REGION, endpoint: moto.endpoint },
  };
}

async function validate(config: unknown) {
  await lab.writeRawConfig("a", stringify(config));
  return run(process.execPath, [AGENT_BIN, "validate", "--config", lab.configPath("a"), "--json"])
    .then((r) => ({ code: 0, ...r }))
    .catch((e: { code: number; stdout: string; stderr: string }) => e);
}

/** Every form the key could take in a file or a log: its text, base64 body, hex, raw bytes. */
function holdsKey(bytes: Buffer): boolean {
  const text = bytes.toString("latin1");
  return (
    text.includes(KEY.toString("base64")) ||
    text.toLowerCase().includes(KEY.toString("hex")) ||
    bytes.includes(KEY)
  );
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

t.test(
  "validate fetches the key, like run; a missing or broken one is a field error",
  async (t) => {
    const ok = await validate(ssmConfig("a"));
    t.equal(ok.code, 0, ok.stderr);
    t.match(JSON.parse(ok.stdout), { ok: true, errors: [] });

    const missing = await validate(ssmConfig("a", "/swanpair/lab/psk/a1/nobody"));
    t.equal(missing.code, 2, "exit 2, as for any invalid config");
    t.match(JSON.parse(missing.stdout).errors, [
      {
        path: "tunnels[0].psk.ssm",
        rule: "psk-ssm",
        message: "SSM parameter /swanpair/lab/psk/a1/nobody does not exist",
      },
    ]);

    const short = randomBytes(12);
    await put("/swanpair/lab/psk/short", `0s${short.toString("base64")}`);
    const broken = await validate(ssmConfig("a", "/swanpair/lab/psk/short"));
    t.equal(broken.code, 2);
    t.match(JSON.parse(broken.stdout).errors, [
      { path: "tunnels[0].psk.ssm", rule: "psk-length", message: /is 12 bytes once decoded/ },
    ]);
    const said = `${broken.stdout}${broken.stderr}`;
    t.notOk(said.includes(short.toString("base64").slice(0, 12)), "the key's text is not printed");

    await put("/swanpair/lab/psk/plain", KEY_TEXT, "String");
    const plain = await validate(ssmConfig("a", "/swanpair/lab/psk/plain"));
    t.match(JSON.parse(plain.stdout).errors, [
      { rule: "psk-ssm", message: /a String, stored unencrypted/ },
    ]);
    t.notOk(`${plain.stdout}${plain.stderr}`.includes(KEY.toString("base64")), "nor this one");
  },
);

t.test("more keys than one GetParameters call takes are fetched in several", async (t) => {
  // moto refuses more than 10 names per call, as SSM does.
  const tunnels = Array.from({ length: 23 }, (_, i) => ({
    name: `t${i}`,
    type: "peer",
    remoteAddress: `198.18.1.${i + 1}`,
    psk: { ssm: `/swanpair/lab/many/k${i}` },
    localSubnets: ["10.1.0.0/24"],
    remoteSubnets: [`10.3.${i}.0/24`],
  }));
  for (const tunnel of tunnels)
    await put(tunnel.psk.ssm, `0s${randomBytes(20).toString("base64")}`);
  const r = await validate({ ...ssmConfig("a"), tunnels });
  t.equal(r.code, 0, r.stdout);
});

t.test("a tunnel between two agents whose key lives only in SSM comes up", async (t) => {
  await lab.writeRawConfig("a", stringify(ssmConfig("a")));
  await lab.writeRawConfig("b", stringify(ssmConfig("b")));
  lab.startAgent("a");
  lab.startAgent("b");
  await waitFor("tunnel one up on both sides", async () => {
    return (
      (await lab.tunnelState("a", "one")) === "up" && (await lab.tunnelState("b", "one")) === "up"
    );
  });
  t.ok(lab.ping("a", 0), "traffic passes");
  const { stdout } = await run("ip", [
    "netns",
    "exec",
    lab.ns("a"),
    "swanctl",
    "--list-conns",
    "--uri",
    `unix://${lab.vici("a")}`,
  ]);
  t.match(stdout, /one: IKEv2/, "charon holds the agent's connection");
});

t.test("a reload that cannot fetch a key keeps the running config and its tunnel", async (t) => {
  const before = await lab.status("a");
  await ssm.send(new DeleteParameterCommand({ Name: PARAMETER }));
  const refused = await lab.client("a").reload();
  t.equal(refused.ok, false, "refused");
  t.match(refused.issues, [
    { path: "tunnels[0].psk.ssm", rule: "psk-ssm", message: /does not exist/ },
  ]);
  const after = await lab.status("a");
  t.equal(after?.config.generation, before?.config.generation, "the running config stays");
  t.equal(after?.tunnels[0]?.state, "up", "and so does the tunnel");
  t.match(after?.config.lastError, /configuration invalid/);
  t.ok(lab.ping("a", 0), "traffic still passes");

  await put(PARAMETER, KEY_TEXT);
  const accepted = await lab.client("a").reload();
  t.equal(accepted.ok, true, "with the key back, the reload goes through");
  t.same(accepted.unchanged, ["one"], "same key: the connection is not touched");
});

t.test("no key on disk in the state directories, nor in the agents' logs", async (t) => {
  const files = [
    ...(await filesUnder(join(lab.dir, "a"))),
    ...(await filesUnder(join(lab.dir, "b"))),
  ];
  t.ok(
    files.some((f) => f.endsWith("swanctl.conf")),
    "swanctl.conf is among them",
  );
  t.ok(
    files.some((f) => f.endsWith("charon.log")),
    "and charon's log",
  );
  const holding: string[] = [];
  for (const file of files) {
    // Sockets and FIFOs are not files; everything else is read whole.
    if (holdsKey(await readFile(file))) holding.push(file);
  }
  t.same(holding, [], "no file holds the key in any form");
  const swanctl = await readFile(join(lab.dir, "a", "swanctl.conf"), "utf8");
  t.match(swanctl, /secret = <redacted>/, "swanctl.conf shows what is loaded, keys redacted");
  for (const side of ["a", "b"] as const) {
    t.notOk(
      holdsKey(Buffer.from(await lab.log(side), "latin1")),
      `agent ${side}'s log holds no key`,
    );
  }
});
