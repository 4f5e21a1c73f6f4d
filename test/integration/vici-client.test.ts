import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import t, { type Test } from "tap";
import { ViciClient } from "../../agent/src/vici/client.ts";
import * as vici from "../../agent/src/vici/commands.ts";
import type { ViciMessage } from "../../agent/src/vici/message.ts";
import { SwpError } from "../../common/errors.ts";
import { type Charon, charonConf, startCharon } from "../helpers/charon.ts";
import { createNetns, deleteNetns } from "../helpers/netns.ts";
import { tempDir } from "../helpers/temp-dir.ts";

let instances = 0;

/** A fresh charon in a namespace of its own, and a client connected to it; all torn down. */
async function setup(t: Test): Promise<{ charon: Charon; client: ViciClient; dir: string }> {
  const dir = await tempDir(t, "swp-vici-");
  const ns = `swp-vici-${process.pid}-${++instances}`;
  const viciSocket = join(dir, "charon.vici");
  const confPath = join(dir, "strongswan.conf");
  writeFileSync(confPath, charonConf({ viciSocket, logFile: join(dir, "charon.log") }));
  createNetns(ns);
  t.teardown(() => deleteNetns(ns));
  const charon = await startCharon({ ns, confPath, viciSocket });
  t.teardown(() => charon.stop("SIGKILL"));
  const client = await ViciClient.connect(viciSocket, { timeoutMs: 2000, callTimeoutMs: 5000 });
  t.teardown(() => client.close());
  return { charon, client, dir };
}

function conn(proposal = "aes256gcm16-prfsha256-x25519"): ViciMessage {
  return {
    version: "2",
    local_addrs: ["192.0.2.1"],
    remote_addrs: ["192.0.2.2"],
    proposals: [proposal],
    local: { auth: "psk", id: "left@swanpair.test" },
    remote: { auth: "psk", id: "right@swanpair.test" },
    children: {
      net: {
        local_ts: ["10.1.0.0/16"],
        remote_ts: ["10.2.0.0/16"],
        esp_proposals: ["aes256gcm16"],
      },
    },
  };
}

async function rejection(promise: Promise<unknown>): Promise<SwpError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof SwpError) return err;
    throw err;
  }
  throw new Error("expected a rejection");
}

t.test("version", async (t) => {
  const { client } = await setup(t);
  t.equal(await vici.version(client), "5.9.8");
  const raw = await client.call("version");
  t.equal(raw.daemon, "charon-systemd");
});

t.test("startedAt: when this charon started, from its stats", async (t) => {
  const before = Date.now();
  const { client } = await setup(t);
  const after = Date.now();
  const started = await vici.startedAt(client);
  // charon computes it from whole seconds of wall and monotonic time: up to 2 s early, 1 s late.
  t.ok(
    started >= before - 2000 && started <= after + 1000,
    `${new Date(started).toISOString()} within [${new Date(before).toISOString()}, ${new Date(after).toISOString()}]`,
  );
});

t.test("load-conn, get-conns, unload-conn", async (t) => {
  const { client } = await setup(t);
  await vici.loadConns(client, { alpha: conn() });
  t.same(await vici.getConns(client), ["alpha"]);
  await vici.unloadConn(client, "alpha");
  t.same(await vici.getConns(client), []);

  const err = await rejection(vici.unloadConn(client, "alpha"));
  t.equal(err.code, "SWP_ERR_VICI_COMMAND");
  t.match(err.details, { command: "unload-conn", errmsg: "unload: connection 'alpha' not found" });
});

t.test("load-conn with a bogus proposal fails with charon's errmsg", async (t) => {
  const { client } = await setup(t);
  const err = await rejection(vici.loadConns(client, { bogus: conn("nonsense-cipher") }));
  t.equal(err.code, "SWP_ERR_VICI_COMMAND");
  t.match(err.details, { command: "load-conn", errmsg: /proposal/ });
  t.match(err.message, /^load-conn failed: .*proposal/);
  t.same(await vici.getConns(client), [], "nothing was loaded; the connection still works");
});

t.test("load-conn takes several connections and stops at the first charon refuses", async (t) => {
  const { client } = await setup(t);
  await vici.loadConns(client, { one: conn(), two: conn() });
  t.same(await vici.getConns(client), ["one", "two"], "both loaded in one round trip");
  const err = await rejection(
    vici.loadConns(client, { three: conn(), bad: conn("nonsense-cipher"), four: conn() }),
  );
  t.equal(err.code, "SWP_ERR_VICI_COMMAND");
  t.same(
    await vici.getConns(client),
    ["one", "two", "three"],
    "before the bad one: loaded; after: not",
  );
});

t.test("an unknown command rejects clearly and leaves the connection usable", async (t) => {
  const { client } = await setup(t);
  const err = await rejection(client.call("no-such-command"));
  t.equal(err.code, "SWP_ERR_VICI_COMMAND");
  t.match(err.message, /does not know the VICI command "no-such-command"/);
  t.equal(await vici.version(client), "5.9.8");
});

t.test("load-shared, get-shared, unload-shared with a binary key", async (t) => {
  const { client } = await setup(t);
  const data = Uint8Array.from({ length: 32 }, (_, i) => (i * 37) & 0xff);
  await vici.loadShared(client, {
    id: "psk-alpha",
    type: "IKE",
    data,
    owners: ["left@swanpair.test"],
  });
  await vici.loadShared(client, { id: "psk-beta", type: "IKE", data: "text key", owners: [] });
  t.same((await vici.getShared(client)).sort(), ["psk-alpha", "psk-beta"]);
  await vici.unloadShared(client, "psk-alpha");
  t.same(await vici.getShared(client), ["psk-beta"]);

  const err = await rejection(
    vici.loadShared(client, { id: "x", type: "BOGUS", data: "k", owners: [] }),
  );
  t.equal(err.code, "SWP_ERR_VICI_COMMAND");
  t.match(err.details, { errmsg: "invalid shared key type: BOGUS" });
});

t.test("stream list-conns, list-sas, and leaving a stream early", async (t) => {
  const { client } = await setup(t);
  for (const name of ["alpha", "beta", "gamma"]) await vici.loadConns(client, { [name]: conn() });

  const conns = await vici.listConns(client);
  t.same(
    conns.map((c) => c.name),
    ["alpha", "beta", "gamma"],
  );
  t.match(conns[0]?.conn, {
    local_addrs: ["192.0.2.1"],
    version: "IKEv2",
    // list-conn spells it "local-ts"; load-conn takes "local_ts".
    children: { net: { "local-ts": ["10.1.0.0/16"] } },
  });
  t.same(
    (await vici.listConns(client, { ike: "beta" })).map((c) => c.name),
    ["beta"],
  );
  t.same(await vici.listSas(client), [], "no SAs yet");

  // Leaving after the first event still drains the stream and unregisters.
  for await (const event of client.stream("list-conns", "list-conn")) {
    t.ok(event.alpha, "first event is alpha");
    break;
  }
  t.equal(await vici.version(client), "5.9.8", "connection usable after an early break");
  // list-conn events must not leak into the next stream.
  t.equal((await vici.listConns(client)).length, 3);
});

t.test("a slow stream consumer still gets every event", async (t) => {
  const { client } = await setup(t);
  const names = Array.from({ length: 400 }, (_, i) => `n${i}`);
  await Promise.all(names.map((name) => vici.loadConns(client, { [name]: conn() })));
  const seen: string[] = [];
  // Enough events to pass the stream's high-water mark while the consumer dawdles.
  for await (const event of client.stream("list-conns", "list-conn")) {
    seen.push(...Object.keys(event));
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.same(seen, names);
});

t.test("initiate, list-sas and terminate report charon's answers", async (t) => {
  const { client } = await setup(t);
  await vici.loadConns(client, { alpha: conn() });
  const missing = await rejection(vici.initiate(client, { ike: "nope", timeoutMs: 1000 }));
  t.equal(missing.code, "SWP_ERR_VICI_COMMAND");
  t.match(missing.details, { command: "initiate", errmsg: "IKE_SA config 'nope' not found" });

  // No peer answers: charon gives up after its own timeout and the control-log comes along.
  const err = await rejection(vici.initiate(client, { ike: "alpha", timeoutMs: 300 }));
  t.match(err.details, {
    errmsg: "IKE_SA 'alpha' not established after 300ms",
    log: ["initiating IKE_SA alpha[1] to 192.0.2.2"],
  });
  const sas = await vici.listSas(client, { ike: "alpha" });
  t.match(sas, [{ ikeName: "alpha", ike: { uniqueid: "1", state: "CONNECTING" } }]);
  t.same(await vici.listSas(client, { ike: "beta", noblock: true }), []);

  t.same(await vici.terminate(client, { ikeId: 1, timeoutMs: 1000 }), {
    matches: 1,
    terminated: 1,
  });
  const none = await rejection(vici.terminate(client, { ike: "alpha", timeoutMs: 1000 }));
  t.match(none.details, { command: "terminate", errmsg: "no matching SAs to terminate found" });
});

t.test("concurrent calls complete in the order issued", async (t) => {
  const { client } = await setup(t);
  const finished: number[] = [];
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < 20; i++) {
    const step =
      i % 2 === 0 ? vici.loadConns(client, { [`c${i}`]: conn() }) : vici.getConns(client);
    calls.push(
      step.then((value) => {
        finished.push(i);
        return value;
      }),
    );
  }
  const results = await Promise.all(calls);
  t.same(
    finished,
    Array.from({ length: 20 }, (_, i) => i),
  );
  // Each get-conns sees exactly the loads issued before it.
  for (let i = 1; i < 20; i += 2) {
    const expected = Array.from({ length: (i + 1) / 2 }, (_, k) => `c${k * 2}`);
    t.same(results[i], expected, `get-conns #${i}`);
  }
});

t.test("subscriptions: own connection, delivery, overflow, unknown events", async (t) => {
  const { client } = await setup(t);

  // A subscriber that never reads does not hold up commands.
  const idle = await client.subscribe(["log"]);
  t.teardown(() => idle.close());
  for (let i = 0; i < 5; i++) await vici.loadConns(client, { [`idle${i}`]: conn() });

  const sub = await client.subscribe(["ike-updown", "log"]);
  await vici.loadConns(client, { alpha: conn() });
  for await (const { event, message } of sub) {
    t.equal(event, "log");
    if (typeof message.msg === "string" && message.msg.includes("added vici connection: alpha"))
      break;
  }

  const small = await client.subscribe(["log"], { maxBuffered: 3 });
  for (let i = 0; i < 3; i++) await vici.loadConns(client, { [`more${i}`]: conn() });
  // charon sends log events asynchronously: let a few more arrive than fit.
  await vici.loadConns(client, { more3: conn() });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const seen: string[] = [];
  const overflow = await rejection(
    (async () => {
      for await (const { message } of small) seen.push(String(message.msg));
    })(),
  );
  t.equal(seen.length, 3, "the buffered events come first");
  t.equal(overflow.code, "SWP_ERR_VICI_CLOSED");
  t.match(overflow.details, { reason: "overflow", maxBuffered: 3 });

  const unknown = await rejection(client.subscribe(["ike-updown", "no-such-event"]));
  t.equal(unknown.code, "SWP_ERR_VICI_COMMAND");
  t.match(unknown.message, /"no-such-event"/);
  t.equal(await vici.version(client), "5.9.8");
});

t.test("charon killed: pending calls reject CLOSED, subscriptions end", async (t) => {
  const { charon, client } = await setup(t);
  const sub = await client.subscribe(["ike-updown"]);
  const ended = (async () => {
    let n = 0;
    for await (const _ of sub) n++;
    return n;
  })();
  const closedReason = new Promise<SwpError>((resolve) => client.onClose(resolve));

  // A stopped charon accepts nothing, so these calls are in flight or queued when it dies.
  charon.child.kill("SIGSTOP");
  // The signal is delivered asynchronously: wait until the kernel reports charon stopped,
  // or a call may still be answered.
  const stat = () => readFileSync(`/proc/${charon.child.pid}/stat`, "utf8");
  for (let i = 0; i < 200 && !/^\d+ \(.*\) T /.test(stat()); i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const pending = [vici.version(client), vici.getConns(client), vici.listConns(client)].map(
    rejection,
  );
  await new Promise((resolve) => setTimeout(resolve, 100));
  await charon.stop("SIGKILL");

  for (const err of await Promise.all(pending)) t.equal(err.code, "SWP_ERR_VICI_CLOSED");
  t.equal(await ended, 0, "the subscription iterator ended");
  t.equal((await closedReason).code, "SWP_ERR_VICI_CLOSED");
  t.equal((await rejection(vici.version(client))).code, "SWP_ERR_VICI_CLOSED", "later calls too");
});

t.test("timeouts against a server that never answers", async (t) => {
  const dir = await tempDir(t, "swp-vici-");
  const path = join(dir, "silent.vici");
  const accepted: Socket[] = [];
  const server = createServer((socket) => accepted.push(socket));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.teardown(() => {
    for (const s of accepted) s.destroy();
    server.close();
  });

  const client = await ViciClient.connect(path, { timeoutMs: 1000 });
  t.teardown(() => client.close());
  let closed: SwpError | undefined;
  client.onClose((reason) => {
    closed = reason;
  });

  const first = rejection(client.call("version", {}, { timeoutMs: 400 }));
  // Times out while still queued: nothing was sent, so the connection survives it.
  const queued = await rejection(client.call("stats", {}, { timeoutMs: 100 }));
  t.equal(queued.code, "SWP_ERR_VICI_TIMEOUT");
  t.equal(closed, undefined, "still open after a queued call timed out");
  const third = rejection(client.call("get-conns", {}, { timeoutMs: 5000 }));

  const err = await first;
  t.equal(err.code, "SWP_ERR_VICI_TIMEOUT");
  t.match(err.message, /VICI version did not complete within 400 ms/);
  t.equal(closed?.code, "SWP_ERR_VICI_CLOSED", "an in-flight timeout closes the connection");
  t.equal((await third).code, "SWP_ERR_VICI_CLOSED", "queued calls are failed, not misanswered");

  // An abort while in flight closes the connection the same way.
  const client2 = await ViciClient.connect(path);
  t.teardown(() => client2.close());
  const abort = new AbortController();
  const aborted = client2.call("version", {}, { signal: abort.signal }).catch((e: unknown) => e);
  await new Promise((resolve) => setTimeout(resolve, 50));
  abort.abort();
  t.match(await aborted, { name: "AbortError" });
  t.equal((await rejection(client2.call("version"))).code, "SWP_ERR_VICI_CLOSED");
});

t.test("connecting to a missing socket fails with SWP_ERR_VICI_CLOSED", async (t) => {
  const dir = await tempDir(t, "swp-vici-");
  const err = await rejection(ViciClient.connect(join(dir, "none.vici")));
  t.equal(err.code, "SWP_ERR_VICI_CLOSED");
  t.match(err.message, /ENOENT/);
});
