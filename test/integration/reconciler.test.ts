import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { type DesiredState, Reconciler } from "../../agent/src/apply/reconciler.ts";
import { ViciClient } from "../../agent/src/vici/client.ts";
import * as vici from "../../agent/src/vici/commands.ts";
import type { ViciMessage } from "../../agent/src/vici/message.ts";
import { createLogger } from "../../common/logger.ts";
import { Secret } from "../../common/secret.ts";
import { charonConf, readyLink, startCharon } from "../helpers/charon.ts";
import { createNetns, deleteNetns } from "../helpers/netns.ts";

/** The reconciler against a real charon: what it sends, what it skips, and rollback. */
const log = createLogger({ name: "test", level: "silent" });
const ns = "swp-rec";
const dir = await mkdtemp("/tmp/swp-rec-");
createNetns(ns);
const viciSocket = join(dir, "charon.vici");
await writeFile(
  join(dir, "strongswan.conf"),
  charonConf({ viciSocket, logFile: join(dir, "charon.log") }),
);
const charon = await startCharon({ ns, confPath: join(dir, "strongswan.conf"), viciSocket });
const link = await readyLink(viciSocket, log);
const client = await ViciClient.connect(viciSocket);
t.teardown(async () => {
  client.close();
  link.close();
  await charon.stop();
  deleteNetns(ns);
  await rm(dir, { recursive: true, force: true });
});

function conn(remoteTs: string, proposal = "aes256gcm16-prfsha384-x25519"): ViciMessage {
  return {
    version: "2",
    remote_addrs: ["198.18.9.9"],
    proposals: [proposal],
    local: { auth: "psk", id: "me" },
    remote: { auth: "psk", id: remoteTs },
    children: { c: { remote_ts: [remoteTs], esp_proposals: ["aes256gcm16"] } },
  };
}
const secret = (id: string) => ({
  id,
  type: "IKE" as const,
  owners: ["me"],
  data: new Secret(`key-${id}-0123456789`),
});
const state = (conns: Record<string, ViciMessage>): DesiredState => ({
  connections: conns,
  secrets: Object.keys(conns).map((n) => secret(`psk-${n}`)),
});

/** remote_ts of each loaded connection, as charon reports it. */
async function loaded() {
  const out: Record<string, string> = {};
  for (const { name, conn: c } of await vici.listConns(client)) {
    const child = Object.values((c.children ?? {}) as Record<string, Record<string, string[]>>)[0];
    out[name] = child?.["remote-ts"]?.[0] ?? "";
  }
  return out;
}

const reconciler = new Reconciler(log);
const base = state({ a: conn("10.0.1.0/24"), b: conn("10.0.2.0/24") });

t.test("a first apply loads every connection and secret", async (t) => {
  const { plan } = await reconciler.apply(link.port(), base);
  t.same(plan.loadConns, ["a", "b"]);
  t.same(await loaded(), { a: "10.0.1.0/24", b: "10.0.2.0/24" });
  t.same((await vici.getShared(client)).sort(), ["psk-a", "psk-b"]);
});

t.test("the same state again sends nothing", async (t) => {
  const { plan } = await reconciler.apply(link.port(), base);
  t.same(plan.loadConns, []);
  t.same(plan.unchanged, ["a", "b"]);
});

t.test("if charon refuses part of a new state, the previous state is restored", async (t) => {
  const broken = state({
    a: conn("10.0.1.0/24"),
    b: conn("10.0.22.0/24"), // changed: charon accepts it before reaching "bad"
    c: conn("10.0.3.0/24"), // new
    bad: conn("10.0.4.0/24", "nonsense-cipher"),
  });
  await t.rejects(reconciler.apply(link.port(), broken), { code: "SWP_ERR_VICI_COMMAND" });
  t.same(
    await loaded(),
    { a: "10.0.1.0/24", b: "10.0.2.0/24" },
    "charon holds exactly the old state",
  );
  t.same((await vici.getShared(client)).sort(), ["psk-a", "psk-b"], "and the old secrets");
  const { plan } = await reconciler.apply(link.port(), base);
  t.same(plan.loadConns, [], "and the reconciler knows it");
});

t.test("a connection unloaded behind the agent's back returns with a precheck", async (t) => {
  await vici.unloadConn(client, "b");
  const fast = await reconciler.apply(link.port(), base, { precheck: false });
  t.same(fast.plan.loadConns, [], "the fast path trusts its memory");
  const { plan } = await reconciler.apply(link.port(), base);
  t.same(plan.loadConns, ["b"], "the precheck sees the drift");
  t.same(await loaded(), { a: "10.0.1.0/24", b: "10.0.2.0/24" });
});

t.test("removed connections and secrets are unloaded", async (t) => {
  const { plan } = await reconciler.apply(link.port(), state({ a: conn("10.0.1.0/24") }));
  t.same(plan.unloadConns, ["b"]);
  t.same(await loaded(), { a: "10.0.1.0/24" });
  t.same(await vici.getShared(client), ["psk-a"]);
});
