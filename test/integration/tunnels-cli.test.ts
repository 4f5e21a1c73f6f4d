import { chmod, copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { stringify } from "yaml";
import { DEFAULT_FAILOVER } from "../../control-plane/src/fleet/schema.ts";
import type { Fleet } from "../../control-plane/src/fleet/types.ts";
import { twoPairFleet } from "../fixtures/fleets.ts";
import { AgentLab, type Host, waitFor } from "../helpers/agent-lab.ts";
import { makeTestPki } from "../helpers/certs.ts";
import { type Tree, writeFleetFile } from "../helpers/fleet-file.ts";
import { childEnv, SWANPAIR_BIN, spawnCli } from "../helpers/swanpair-bin.ts";

/**
 * `swanpair tunnels`, `tunnel initiate|terminate` and `agents reload` against real agents with
 * real charon: a1 and b1 (namespaces a and b) hold the tunnel between pairs pa and pb, named
 * after the far appliance as the fleet expects; a2 and b2 are their pairs' standbys, with no
 * tunnels. Both ends are passive (startAction none), so only these commands bring the tunnel
 * up or down. a1's agent serves HTTPS too, on 127.0.0.1:7443 inside namespace a, where the
 * CLI runs; the others are reached on their Unix sockets. The fleet's tls certificate is a
 * reader's; the operator's (OU=swanpair-operator) is given with --tls-cert/--tls-key.
 */

const lab = await AgentLab.create("swp-tcli", { subnets: 1 });
const HOSTS: Host[] = ["a", "b", "as", "bs"];
t.teardown(async () => {
  if (t.passing()) return lab.cleanup();
  for (const host of HOSTS) {
    t.comment(
      `agent ${host} log (tail):\n${(await lab.log(host)).split("\n").slice(-30).join("\n")}`,
    );
  }
  await lab.cleanup();
});

await mkdir(join(lab.dir, "pki"));
const pki = await makeTestPki(join(lab.dir, "pki"));
const operator = ["--tls-cert", pki.operatorClient.cert, "--tls-key", pki.operatorClient.key];
const A1_URL = "https://127.0.0.1:7443";

const passive = { extra: { startAction: "none" } };
const a = lab.config("a", [{ name: "b1", subnet: 0, ...passive }]);
const listen = { address: "127.0.0.1", port: 7443, tls: pki.server };
await lab.writeRawConfig("a", stringify({ ...a, api: { ...a.api, listen } }));
await lab.writeConfig("b", [{ name: "a1", subnet: 0, ...passive }]);
lab.addStandby("a");
lab.addStandby("b");
await lab.writeStandbyConfig("a", []);
await lab.writeStandbyConfig("b", []);
for (const host of HOSTS) lab.startAgent(host);

const base = twoPairFleet(DEFAULT_FAILOVER);
const hostOf: Record<string, Host> = { a2: "as", b1: "b", b2: "bs" };
const fleet: Fleet = {
  ...base,
  appliances: base.appliances.map((x) => ({
    ...x,
    agent:
      x.name === "a1"
        ? { kind: "https", url: A1_URL, tls: pki.client }
        : { kind: "unix", path: lab.socket(hostOf[x.name] ?? "a") },
  })),
};
const withTls = (tree: Tree) => {
  tree.tls = pki.client;
};
const fleetFile = await writeFleetFile(lab.dir, fleet, withTls);

/** The CLI inside a's namespace, where a1's HTTPS listener is; no colour. */
async function swanpair(...args: string[]) {
  const argv = ["netns", "exec", lab.ns("a"), process.execPath, SWANPAIR_BIN, ...args];
  return spawnCli("ip", argv, { ...childEnv(), NO_COLOR: "1" });
}

// biome-ignore lint/suspicious/noExplicitAny: the CLI's JSON is checked field by field.
type Json = any;
async function tunnelsJson(...args: string[]): Promise<{ code: number; view: Json }> {
  const r = await swanpair("tunnels", "--config", fleetFile, "--json", ...args);
  return { code: r.code, view: JSON.parse(r.stdout) };
}
const tunnelOf = (view: Json, appliance: string) =>
  view.appliances.find((x: Json) => x.name === appliance)?.tunnels[0];

const bothIn = (state: string) =>
  waitFor(`the tunnel ${state} on a1 and b1`, async () => {
    const [onA, onB] = [await lab.tunnelState("a", "b1"), await lab.tunnelState("b", "a1")];
    return onA === state && onB === state;
  });

await waitFor("every agent answers", async () => {
  const statuses = await Promise.all(HOSTS.map((h) => lab.status(h)));
  return statuses.every((s) => s !== null);
});

t.test("tunnels: a passive tunnel is down at both ends, and the command exits 1", async (t) => {
  const { code, view } = await tunnelsJson();
  t.equal(code, 1);
  t.same(
    view.appliances.map((x: Json) => [x.name, x.reachable, x.tunnels.length]),
    [
      ["a1", true, 1],
      ["a2", true, 0],
      ["b1", true, 1],
      ["b2", true, 0],
    ],
    "every appliance answered, a1 over HTTPS with the fleet's read-only certificate",
  );
  t.match(tunnelOf(view, "a1"), { name: "b1", state: "down", child: null, carries: "no" });
  t.match(tunnelOf(view, "b1"), { name: "a1", state: "down", child: null, carries: "no" });
  const human = await swanpair("tunnels", "--config", fleetFile);
  t.equal(human.code, 1);
  t.match(human.stderr, "tunnels: not ok: tunnel(s) not up: a1/b1 down, b1/a1 down");
});

t.test("a read-only certificate may not initiate: an operator certificate is needed", async (t) => {
  const r = await swanpair("tunnel", "initiate", "a1", "b1", "--config", fleetFile);
  t.equal(r.code, 1);
  t.match(
    r.stderr,
    `a1: an operator certificate is needed: the agent at ${A1_URL} refused to act for ${pki.client.cert}, a read-only certificate (no OU=swanpair-operator in its subject); give an operator's with --tls-cert FILE --tls-key FILE`,
  );
  const json = await swanpair("tunnel", "initiate", "a1", "b1", "--config", fleetFile, "--json");
  t.match(JSON.parse(json.stdout), {
    error: { code: "SWP_ERR_API_REQUEST", message: /^a1: an operator certificate is needed/ },
  });
  t.equal(lab.swanctl("a", "--list-sas").trim(), "", "nothing was initiated");
});

t.test("the operator's certificate files are checked as the fleet's are", async (t) => {
  const loose = join(lab.dir, "operator-loose.key");
  await copyFile(pki.operatorClient.key, loose);
  await chmod(loose, 0o644);
  const args = ["--config", fleetFile, "--tls-cert", pki.operatorClient.cert];
  const r = await swanpair("tunnel", "initiate", "a1", "b1", ...args, "--tls-key", loose);
  t.equal(r.code, 2);
  t.match(
    r.stderr,
    `--tls-key: ${loose} has mode 0644; it must be 0600 or stricter (chmod 600) [tls-mode]`,
  );
  const wrong = await swanpair(
    "tunnel",
    "initiate",
    "a1",
    "b1",
    ...args,
    "--tls-key",
    pki.client.key,
  );
  t.equal(wrong.code, 2);
  t.match(
    wrong.stderr,
    `--tls-key: ${pki.client.key} is not the key of the certificate in ${pki.operatorClient.cert} [tls-pem]`,
  );
  const half = await swanpair("tunnel", "initiate", "a1", "b1", ...args);
  t.equal(half.code, 2);
  t.match(half.stderr, "--tls-cert and --tls-key go together");
});

t.test("an operator initiates over HTTPS; tunnels shows it up at both ends", async (t) => {
  const r = await swanpair("tunnel", "initiate", "a1", "b1", "--config", fleetFile, ...operator);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, "a1: b1: initiating (charon brings it up in the background)\n");
  await bothIn("up");

  const { code, view } = await tunnelsJson();
  t.equal(code, 0);
  const onA = tunnelOf(view, "a1");
  t.match(onA, {
    name: "b1",
    state: "up",
    remoteAddress: "198.18.0.2",
    ike: { state: "ESTABLISHED" },
    child: { state: "INSTALLED" },
    carries: "yes",
    probe: { state: "up" },
  });
  t.type(onA.probe.rttMs, "number");
  t.match(tunnelOf(view, "b1"), {
    name: "a1",
    state: "up",
    remoteAddress: "198.18.0.1",
    carries: "yes",
  });

  const human = await swanpair("tunnels", "--config", fleetFile);
  t.equal(human.code, 0, human.stderr);
  t.match(
    human.stdout,
    /^APPLIANCE +TUNNEL +FAR END +STATE +IKE +CHILD +CARRIES +RTT +LOSS +SINCE +REASON$/m,
  );
  t.match(
    human.stdout,
    /^a1 +b1 +198\.18\.0\.2 +up +ESTABLISHED +INSTALLED +yes +[\d.]+ms +\d+% +\d+s +/m,
  );
  t.match(human.stdout, /^b1 +a1 +198\.18\.0\.1 +up +ESTABLISHED +INSTALLED +yes /m);
  t.match(human.stdout, /^a2 +no tunnels configured$/m);
  t.notOk(human.stdout.includes("\x1b"), "NO_COLOR: no escape codes");

  const one = await swanpair("tunnels", "--config", fleetFile, "--appliance", "b1");
  t.equal(one.code, 0);
  t.same(
    one.stdout
      .trim()
      .split("\n")
      .slice(1)
      .map((l) => l.split(/ +/)[0]),
    ["b1"],
    "--appliance: that appliance's rows only",
  );
});

t.test("terminate takes the tunnel down at both ends, initiate brings it back", async (t) => {
  // b1 is on its Unix socket: no certificate needed.
  const r = await swanpair("tunnel", "terminate", "b1", "a1", "--config", fleetFile, "--json");
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout), { ok: true, appliance: "b1", tunnel: "a1", action: "terminate" });
  await bothIn("down");
  const { code, view } = await tunnelsJson();
  t.equal(code, 1, "a tunnel not up: exit 1");
  t.match(tunnelOf(view, "a1"), { state: "down", carries: "no" });
  t.match(tunnelOf(view, "b1"), { state: "down", carries: "no" });

  const again = await swanpair("tunnel", "initiate", "b1", "a1", "--config", fleetFile);
  t.equal(again.code, 0, again.stderr);
  await bothIn("up");
  t.equal((await tunnelsJson()).code, 0);

  const unknown = await swanpair("tunnel", "terminate", "b1", "nope", "--config", fleetFile);
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, /b1: agent answered SWP_ERR_TUNNEL_UNKNOWN: .*nope/);
});

t.test("agents reload: one row per appliance with its result", async (t) => {
  const readOnly = await swanpair("agents", "reload", "--config", fleetFile);
  t.equal(readOnly.code, 1);
  t.match(readOnly.stdout, /^a1 +error: an operator certificate is needed: /m);
  for (const name of ["a2", "b1", "b2"]) {
    t.match(readOnly.stdout, new RegExp(`^${name} +reloaded +\\d+ +- +- +\\d+$`, "m"));
  }
  t.match(readOnly.stderr, "agents reload: not ok: not reloaded: a1 (error)");

  const good = await readFile(lab.configPath("bs"), "utf8");
  await lab.writeRawConfig("bs", "tunnels: [\n");
  const mixed = await swanpair("agents", "reload", "--config", fleetFile, "--json", ...operator);
  t.equal(mixed.code, 1);
  const { appliances } = JSON.parse(mixed.stdout);
  t.same(
    appliances.map((x: Json) => [x.name, x.outcome]),
    [
      ["a1", "reloaded"],
      ["a2", "reloaded"],
      ["b1", "reloaded"],
      ["b2", "rejected"],
    ],
  );
  t.same(appliances[0].result.unchanged, ["b1"], "a1's tunnel untouched");
  t.match(appliances[3], { result: { ok: false, issues: [{ rule: "yaml" }] } });

  await writeFile(lab.configPath("bs"), good);
  const fixed = await swanpair("agents", "reload", "b2", "--config", fleetFile);
  t.equal(fixed.code, 0, fixed.stderr);
  t.match(fixed.stdout, /^b2 +reloaded +\d+ +- +- +0$/m);
  t.equal(await lab.tunnelState("a", "b1"), "up", "the tunnel stayed up");
});

t.test("an agent that cannot be reached is a row saying so, and exit 1", async (t) => {
  const missing = (name: string) => join(lab.dir, `nowhere-${name}.sock`);
  const withC = await writeFleetFile(
    lab.dir,
    fleet,
    (tree) => {
      withTls(tree);
      tree.vpcs.push({ name: "vc", id: "vpc-c", cidrs: ["10.3.0.0/16"], routeTables: ["rtb-c"] });
      for (const name of ["c1", "c2"]) {
        const agent = `unix://${missing(name)}`;
        tree.appliances.push({
          name,
          vpc: "vc",
          instanceId: `i-${name}`,
          eni: `eni-${name}`,
          agent,
        });
      }
      tree.pairs.push({ name: "pc", members: ["c1", "c2"] });
      tree.connections.push({ name: "ac", between: ["pa", "pc"] });
    },
    "fleet-c.yaml",
  );
  const human = await swanpair("tunnels", "--config", withC);
  t.equal(human.code, 1);
  t.match(human.stdout, /^a1 +b1 +198\.18\.0\.2 +up /m, "the others are listed as ever");
  t.match(
    human.stdout,
    new RegExp(`^c1 +unreachable: agent API at ${missing("c1")}: no socket there`, "m"),
  );
  t.match(human.stderr, "tunnels: not ok: unreachable agent(s): c1, c2");

  const json = await swanpair("tunnels", "--config", withC, "--json");
  t.equal(json.code, 1);
  t.match(JSON.parse(json.stdout).appliances[4], {
    name: "c1",
    reachable: false,
    error: /no socket there/,
    tunnels: [],
  });

  const reload = await swanpair("agents", "reload", "--config", withC, ...operator);
  t.equal(reload.code, 1);
  t.match(reload.stdout, /^c2 +unreachable: /m);
  t.match(reload.stdout, /^b1 +reloaded /m, "the reachable ones still reload");
});
