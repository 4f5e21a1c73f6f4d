import { type ChildProcess, execFileSync } from "node:child_process";
import { access, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t, { type Test } from "tap";
import { stringify } from "yaml";
import { AgentLab, waitFor } from "../helpers/agent-lab.ts";
import { makeTestPki } from "../helpers/certs.ts";
import { nsSpawn, stopChild } from "../helpers/netns.ts";

/**
 * `swanpair-agent run` binds its API before it starts anything else. When it cannot bind, the
 * process exits 1 at once, naming the field and the reason, with no charon and no probe sent.
 * Checked on the real process in namespace a, against a path probe to b's outside address,
 * where a listener in namespace b counts what arrives.
 */
const lab = await AgentLab.create("swp-start", { subnets: 1 });
t.teardown(() => lab.cleanup());
const pki = await makeTestPki(join(lab.dir, "pki"));
const LISTEN = { address: "198.18.0.1", port: 7443 };
const PROBE_PORT = 7208;

/** Side a with a path probe to b's outside address, every 50 ms, and the HTTPS API. */
function config(overrides: { socket?: string } = {}) {
  const base = lab.config("a", []);
  return {
    ...base,
    api: {
      socket: overrides.socket ?? base.api.socket,
      listen: { ...LISTEN, tls: pki.server },
    },
    paths: [{ name: "ab", target: "198.18.0.2", port: PROBE_PORT, intervalMs: 50, timeoutMs: 40 }],
  };
}

/** A node one-liner in a namespace; resolves once it prints "ready". */
async function nsNode(
  t: Test,
  ns: string,
  script: string,
): Promise<{ child: ChildProcess; out: () => string }> {
  const child = nsSpawn(ns, process.execPath, ["-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  t.teardown(() => stopChild(child));
  let out = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  await waitFor(`${script} ready`, () => out.startsWith("ready"), 10_000);
  return { child, out: () => out.slice("ready\n".length) };
}

/** Counts the probe datagrams that reach b: one "." each. */
async function probeCounter(t: Test) {
  const counter = await nsNode(
    t,
    lab.ns("b"),
    `const s = require("node:dgram").createSocket("udp4");
     s.on("message", () => process.stdout.write("."));
     s.bind(${PROBE_PORT}, "198.18.0.2", () => process.stdout.write("ready\\n"));`,
  );
  return () => counter.out().length;
}

/** The processes in namespace a. */
function pidsInA(): number[] {
  const out = execFileSync("ip", ["netns", "pids", lab.ns("a")], { encoding: "utf8" });
  return out.split("\n").filter(Boolean).map(Number);
}

function exited(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the agent still runs after ${timeoutMs} ms`)),
      timeoutMs,
    );
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

const charonPid = join(lab.dir, "a", "charon.pid");
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/**
 * Runs the agent on `tree` and expects it to fail: exit 1 within seconds, nothing left behind
 * in namespace a but `expectedPids`.
 */
async function failsToStart(t: Test, tree: object, message: RegExp, expectedPids: number[] = []) {
  const received = await probeCounter(t);
  await lab.writeRawConfig("a", stringify(tree));
  await writeFile(join(lab.dir, "a.log"), "");
  const started = Date.now();
  const agent = lab.startAgent("a");
  const code = await exited(agent, 10_000);
  t.equal(code, 1, `exit 1, after ${Date.now() - started} ms`);
  t.match(await lab.log("a"), message);
  t.same(pidsInA(), expectedPids, "no process left in the namespace: no charon");
  t.notOk(await exists(charonPid), "no charon pid file");
  // Whatever was sent before the exit has arrived by now; a prober sends every 50 ms.
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.equal(received(), 0, "no probe reached b");
}

t.test("with everything free, run serves, supervises charon and probes", async (t) => {
  // The control for the tests below: these checks do see a charon and probes when they run.
  const received = await probeCounter(t);
  await lab.writeRawConfig("a", stringify(config()));
  const agent = lab.startAgent("a");
  t.teardown(() => lab.stopAgent("a"));
  await waitFor("probes at b", () => received() >= 3);
  await waitFor("charon's pid file", () => exists(charonPid));
  t.ok((await lab.status("a"))?.charon.pid, "charon runs");
  t.ok(pidsInA().length >= 2, "the agent and charon in the namespace");
  await lab.stopAgent("a");
  t.equal(agent.exitCode, 0, "SIGTERM: exit 0");
  t.same(pidsInA(), [], "nothing left");
});

t.test("api.listen on a port already in use: exit 1, no charon, no probes", async (t) => {
  const holder = await nsNode(
    t,
    lab.ns("a"),
    `require("node:net").createServer().listen(${LISTEN.port}, "${LISTEN.address}", () => process.stdout.write("ready\\n"));`,
  );
  await failsToStart(
    t,
    config(),
    /swanpair-agent: cannot serve the API on api\.listen 198\.18\.0\.1:7443: the address is already in use \(EADDRINUSE\); is another agent or program listening there\? \(SWP_ERR_FAILED\)/,
    [holder.child.pid as number],
  );
  t.notOk(await exists(lab.socket("a")), "the Unix socket bound first is gone again");
});

t.test("an api.socket that cannot be bound: exit 1, no charon, no probes", async (t) => {
  // The socket's directory would be a regular file.
  const file = join(lab.dir, "not-a-dir");
  await writeFile(file, "");
  await failsToStart(
    t,
    config({ socket: join(file, "agent.sock") }),
    /swanpair-agent: cannot serve the API on api\.socket .*\/not-a-dir\/agent\.sock: E\w+: .* \(SWP_ERR_FAILED\)/,
  );
});
