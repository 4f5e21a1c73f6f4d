import { execFile } from "node:child_process";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { stringify } from "yaml";
import type { ConfigPushResult, ConfigRefusal } from "../../common/agent-api/status.ts";
import { SwpError } from "../../common/errors.ts";
import { AgentLab, type Side, type TunnelSpec, waitFor } from "../helpers/agent-lab.ts";
import { makeTestPki, type TlsPaths } from "../helpers/certs.ts";

/**
 * PUT /v1/config on two real agents with a tunnel between them: a valid config is written to
 * the agent's config file and applied hitlessly; a refused one changes neither the file nor
 * charon; a reader's certificate may not push; a body over 1 MiB is refused unread.
 */
const run = promisify(execFile);

const lab = await AgentLab.create("swp-push");
t.teardown(async () => {
  if (t.passing()) return lab.cleanup();
  t.comment(`agent a log (tail):\n${(await lab.log("a")).split("\n").slice(-40).join("\n")}`);
  t.comment(`agent b log (tail):\n${(await lab.log("b")).split("\n").slice(-40).join("\n")}`);
  await lab.cleanup();
});
const pki = await makeTestPki(join(lab.dir, "pki"));
/** Agent a also serves HTTPS, inside its namespace, where curl reaches it. */
const LISTEN = { address: "127.0.0.1", port: 7443 };

// biome-ignore lint/suspicious/noExplicitAny: tests change free-form config trees.
type Tree = any;

/** The lab's config for `side`, as YAML text; a's with its HTTPS listener. */
function configText(side: Side, tunnels: TunnelSpec[], change: (c: Tree) => void = () => {}) {
  const config = lab.config(side, tunnels);
  const withApi =
    side === "a"
      ? { ...config, api: { ...config.api, listen: { ...LISTEN, tls: pki.server } } }
      : config;
  change(withApi);
  return stringify(withApi);
}

const one: TunnelSpec[] = [{ name: "one", subnet: 0 }];
const two: TunnelSpec[] = [...one, { name: "two", subnet: 1, ownIds: true }];

await writeFile(lab.configPath("a"), configText("a", one), { mode: 0o600 });
await lab.writeRawConfig("b", configText("b", one));
lab.startAgent("a");
lab.startAgent("b");
await waitFor(
  "tunnel one up on both sides",
  async () =>
    (await lab.tunnelState("a", "one")) === "up" && (await lab.tunnelState("b", "one")) === "up",
  60_000,
);

/** IKE and CHILD unique ids of a tunnel, read from charon itself. */
function saIds(side: Side, name: string) {
  const out = lab.swanctl(side, "--list-sas", "--ike", name);
  const ike = /#(\d+), ESTABLISHED/.exec(out)?.[1];
  const child = new RegExp(`${name}: #(\\d+), reqid \\d+, INSTALLED`).exec(out)?.[1];
  return { ike, child };
}

/** Everything a refused push must leave as it was: file bytes, text served, charon's state. */
async function snapshot(side: Side) {
  return {
    file: await readFile(lab.configPath(side)),
    served: await lab.client(side).config(),
    generation: (await lab.status(side))?.config.generation,
    conns: lab.swanctl(side, "--list-conns"),
    one: saIds(side, "one"),
  };
}

function applied(answer: ConfigPushResult | ConfigRefusal): ConfigPushResult {
  if (!("ok" in answer)) throw new Error(`refused: ${JSON.stringify(answer.error)}`);
  return answer;
}

function refusal(answer: ConfigPushResult | ConfigRefusal): ConfigRefusal["error"] {
  if ("ok" in answer) throw new Error(`applied: ${JSON.stringify(answer)}`);
  return answer.error;
}

/** curl in a's namespace against a's HTTPS API with one of the test certificates. */
async function curlA(who: TlsPaths, args: string[]) {
  const { stdout } = await run("ip", [
    ...["netns", "exec", lab.ns("a"), "curl", "-sS", "-o", "-", "-w", "\n%{http_code}"],
    ...["--cacert", who.ca, "--cert", who.cert, "--key", who.key],
    ...args,
  ]);
  const cut = stdout.lastIndexOf("\n");
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

const URL_A = `https://${LISTEN.address}:${LISTEN.port}/v1/config`;

t.test("GET /v1/config serves the text the agent started from", async (t) => {
  t.equal(await lab.client("a").config(), await readFile(lab.configPath("a"), "utf8"));
});

t.test("a pushed config that adds a tunnel is written, applied, and hitless", async (t) => {
  const before = { a: saIds("a", "one"), b: saIds("b", "one") };
  t.ok(before.a.ike && before.a.child, `tunnel one has SAs (${JSON.stringify(before.a)})`);
  const mode = (await stat(lab.configPath("a"))).mode & 0o777;
  const text = { a: configText("a", two), b: configText("b", two) };

  const rb = applied(await lab.client("b").putConfig(text.b));
  const ra = applied(await lab.client("a").putConfig(text.a));
  t.match(ra, { ok: true, configChanged: true, loaded: ["two"], unloaded: [], unchanged: ["one"] });
  t.match(rb, { ok: true, configChanged: true, loaded: ["two"] });

  t.equal(await readFile(lab.configPath("a"), "utf8"), text.a, "the file holds the pushed text");
  t.equal((await stat(lab.configPath("a"))).mode & 0o777, mode, "with the mode it had");
  t.equal(await lab.client("a").config(), text.a, "GET returns what was pushed");
  t.equal(await lab.client("b").config(), text.b);

  await waitFor("tunnel two up", async () => (await lab.tunnelState("a", "two")) === "up");
  t.ok(lab.ping("a", 1), "traffic passes through the new tunnel");
  t.same(saIds("a", "one"), before.a, "tunnel one kept its IKE and CHILD SA ids on a");
  t.same(saIds("b", "one"), before.b, "and on b");

  const again = applied(await lab.client("a").putConfig(text.a));
  t.match(again, { ok: true, configChanged: false, loaded: [], unchanged: ["one", "two"] });
});

t.test("a refused config answers 422 with the field paths and changes nothing", async (t) => {
  const cases: [string, string, { path: string; rule: string; message: RegExp }][] = [
    [
      "overlapping subnets",
      configText("a", two, (c) => {
        c.tunnels[1].remoteSubnets = ["10.1.1.0/25"];
      }),
      { path: "tunnels[1].remoteSubnets[0]", rule: "overlap", message: /overlaps localSubnets/ },
    ],
    [
      "a missing key file",
      configText("a", [...two, { name: "three", subnet: 2, ownIds: true }], (c) => {
        c.tunnels[2].psk = { file: join(lab.dir, "no-such-psk") };
      }),
      { path: "tunnels[2].psk.file", rule: "psk-file", message: /does not exist/ },
    ],
    [
      "a change that takes a restart",
      configText("a", two, (c) => {
        c.appliance.name = "a9";
      }),
      { path: "appliance", rule: "restart", message: /take an agent restart/ },
    ],
    ["text that is not YAML", "tunnels: [\n", { path: "", rule: "yaml", message: /line/ }],
  ];
  for (const [what, text, issue] of cases) {
    const before = await snapshot("a");
    const answer = refusal(await lab.client("a").putConfig(text));
    t.equal(answer.code, "SWP_ERR_CONFIG_INVALID", what);
    t.match(answer.message, /neither the file nor the running config changed/, what);
    t.match(answer.issues, [issue], what);
    t.same(await snapshot("a"), before, `${what}: file, served text, charon and SAs as they were`);
  }
});

t.test("a refusal lists at most 50 issues and counts the rest", async (t) => {
  const before = await snapshot("a");
  const text = configText("a", two, (c) => {
    c.tunnels = Array.from({ length: 60 }, () => ({ ...c.tunnels[0], remoteAddress: "nope" }));
  });
  const answer = refusal(await lab.client("a").putConfig(text));
  t.equal(answer.issues.length, 50);
  t.ok((answer.omitted ?? 0) > 0, `${answer.omitted} more counted`);
  t.match(answer.message, new RegExp(`invalid \\(${50 + (answer.omitted ?? 0)} errors\\)`));
  t.same(await snapshot("a"), before, "nothing changed");
});

t.test("a config charon refuses is rolled back, and the file keeps the running text", async (t) => {
  const before = await snapshot("a");
  // Valid for strongSwan 6 (an additional ML-KEM key exchange), refused by this charon (5.9).
  const text = configText("a", [...two, { name: "three", subnet: 2, ownIds: true }], (c) => {
    c.tunnels[2].crypto = { ike: ["aes256gcm16-prfsha384-x25519-ke1_mlkem768"] };
  });
  const err = await lab
    .client("a")
    .putConfig(text)
    .catch((e: unknown) => e);
  t.ok(err instanceof SwpError, "a failure, not a refusal");
  t.match((err as SwpError).details, { status: 500, code: "SWP_ERR_API_REQUEST" });
  t.same(await snapshot("a"), before, "file, served text, charon and SAs as they were");
  t.match((await lab.status("a"))?.config.lastError, /./, "status names the failure");
});

t.test("over HTTPS a reader may GET the config but not PUT one", async (t) => {
  const text = await readFile(lab.configPath("a"), "utf8");
  const before = await snapshot("a");
  const changed = configText("a", one);
  const path = join(lab.dir, "push.yaml");
  await writeFile(path, changed);

  const read = await curlA(pki.client, [URL_A]);
  t.same(read, { status: 200, body: text }, "a reader reads the running text");
  const put = await curlA(pki.client, ["-X", "PUT", "--data-binary", `@${path}`, URL_A]);
  t.equal(put.status, 403);
  t.match(JSON.parse(put.body), {
    error: {
      code: "SWP_ERR_API_REQUEST",
      message:
        /^forbidden: PUT \/v1\/config acts on the agent, which takes an operator certificate/,
    },
  });
  t.same(await snapshot("a"), before, "nothing changed");

  const operator = await curlA(pki.operatorClient, [
    ...["-X", "PUT", "--data-binary", `@${lab.configPath("a")}`, URL_A],
  ]);
  t.equal(operator.status, 200, "an operator may push");
  t.match(JSON.parse(operator.body), { ok: true, configChanged: false });
});

t.test("a body over 1 MiB is refused with 413, and none of it is kept", async (t) => {
  const before = await snapshot("a");
  const big = `# ${"x".repeat(1024 * 1024)}\n`;
  const err = await lab
    .client("a")
    .putConfig(big)
    .catch((e: unknown) => e);
  t.ok(err instanceof SwpError);
  t.match((err as SwpError).details, {
    status: 413,
    message: /request body is 1048579 bytes, over this endpoint's limit of 1048576 bytes/,
  });

  // Without a Content-Length the limit is found while reading.
  const path = join(lab.dir, "big.yaml");
  await writeFile(path, big);
  const { stdout } = await run("curl", [
    ...["-sS", "-o", "-", "-w", "\n%{http_code}", "--unix-socket", lab.socket("a")],
    ...["-X", "PUT", "-H", "Transfer-Encoding: chunked", "--data-binary", `@${path}`],
    "http://agent/v1/config",
  ]);
  t.match(stdout, /over this endpoint's limit of 1048576 bytes.*\n413$/s);
  t.same(await snapshot("a"), before, "nothing changed");
});
