import t from "tap";
import { checkPskText } from "../../agent/src/keys/psk-rules.ts";
import { keyBytes } from "../../agent/src/render/connections.ts";
import type { AgentStatus, TunnelState } from "../../common/agent-api/status.ts";
import { pskParameterName } from "../../common/psk-names.ts";
import type { Fleet } from "../../control-plane/src/fleet/types.ts";
import { GapWatch } from "../../control-plane/src/keys/gaps.ts";
import { generateKey, KEY_BYTES } from "../../control-plane/src/keys/store.ts";
import { keyPrefix, tunnelKeys } from "../../control-plane/src/keys/tunnel-keys.ts";
import { agentStatus, tunnelStatus } from "../fixtures/agent-status.ts";

/**
 * The pure parts of the control plane's keys: which tunnels need a key (the mesh of each
 * connection, each tunnel once), where the keys live, that a generated key passes the agent's
 * own rules, and how a rotation's gaps are read from the agents' status.
 */

type Shape = Pick<Fleet, "pairs" | "connections">;

const pair = (name: string, members: [string, string]) => ({
  name,
  vpc: `vpc-${name}`,
  members,
  preferred: members[0],
});
const connection = (name: string, between: [string, string]) => ({
  name,
  kind: "site-to-site" as const,
  between,
});

/** A hub pair and three spoke pairs, each spoke connected to the hub. */
const HUB: Shape = {
  pairs: [
    pair("hub", ["h1", "h2"]),
    pair("s1", ["s1a", "s1b"]),
    pair("s2", ["s2a", "s2b"]),
    pair("s3", ["s3a", "s3b"]),
  ],
  connections: [
    connection("hub-s1", ["hub", "s1"]),
    connection("hub-s2", ["hub", "s2"]),
    connection("s3-hub", ["s3", "hub"]),
  ],
};

t.test("a connection needs one key per member of one pair and member of the other", async (t) => {
  const keys = tunnelKeys(HUB, "/swanpair/x", "s3-hub");
  t.same(
    keys.map((k) => k.appliances),
    [
      ["h1", "s3a"],
      ["h2", "s3a"],
      ["h1", "s3b"],
      ["h2", "s3b"],
    ],
    "the mesh, each pair of names sorted as the parameter name sorts them",
  );
  for (const k of keys) {
    t.equal(k.parameter, pskParameterName("/swanpair/x", ...k.appliances));
    t.same(k.connections, ["s3-hub"]);
  }
  const all = tunnelKeys(HUB, "/swanpair/x");
  t.equal(all.length, 12, "the hub fleet: 3 connections × 4 tunnels");
  t.equal(new Set(all.map((k) => k.parameter)).size, 12, "every parameter once");
  t.same(tunnelKeys(HUB, "/swanpair/x", "nope"), [], "an unknown connection has no tunnels");
});

t.test("a tunnel in two connections' meshes gets one key, naming both", async (t) => {
  // Both connections join the same two pairs (the fleet loader refuses this; the dedup must hold
  // whatever the caller passes).
  const shape: Shape = {
    pairs: [pair("p", ["a1", "a2"]), pair("q", ["b1", "b2"])],
    connections: [connection("one", ["p", "q"]), connection("two", ["q", "p"])],
  };
  const keys = tunnelKeys(shape, "/k");
  t.equal(keys.length, 4);
  t.ok(keys.every((k) => k.connections.join() === "one,two"));
  t.throws(
    () => tunnelKeys({ ...shape, connections: [connection("bad", ["p", "zz"])] }, "/k"),
    /no pair named zz/,
  );
});

t.test("the prefix: the fleet's own, else /swanpair/<tag value> if SSM can take it", async (t) => {
  const tag = { key: "swanpair:fleet", value: "prod-east" };
  t.same(keyPrefix({ tag }), { ok: true, prefix: "/swanpair/prod-east" });
  t.same(keyPrefix({ tag, keys: { ssm: {} } }), { ok: true, prefix: "/swanpair/prod-east" });
  t.same(keyPrefix({ tag, keys: { ssm: { prefix: "/net/vpn" } } }), {
    ok: true,
    prefix: "/net/vpn",
  });
  const spaced = keyPrefix({ tag: { key: "team", value: "net ops" } });
  t.equal(spaced.ok, false, "a tag value with a space makes no SSM name");
  if (!spaced.ok) t.match(spaced.problem, /set keys\.ssm\.prefix in the fleet file/);
});

t.test("a generated key is 32 random bytes in 0s notation, which the agent accepts", async (t) => {
  const issues: string[] = [];
  const sink = {
    error: (_p: string, rule: string, message: string) => issues.push(`${rule} ${message}`),
  };
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const key = generateKey();
    t.match(key.reveal(), /^0s[A-Za-z0-9+/]{43}=$/);
    t.equal(String(key), "[redacted]", "wrapped");
    const accepted = checkPskText("k", "SSM parameter k", key.reveal(), sink);
    t.ok(accepted, "the agent's PSK rules take it");
    t.equal(accepted && keyBytes(accepted).length, KEY_BYTES, "as 32 bytes");
    seen.add(key.reveal());
  }
  t.same(issues, []);
  t.equal(seen.size, 50, "never the same twice");
});

const KEYS = tunnelKeys(
  {
    pairs: [pair("p", ["a1", "a2"]), pair("q", ["b1", "b2"])],
    connections: [connection("pq", ["p", "q"])],
  },
  "/k",
);

/** Every end's status with every tunnel in `state`, except those given (`"a1>b1"`: on a1, to b1). */
function look(state: TunnelState, except: Record<string, TunnelState> = {}, silent: string[] = []) {
  const far: Record<string, string[]> = {
    a1: ["b1", "b2"],
    a2: ["b1", "b2"],
    b1: ["a1", "a2"],
    b2: ["a1", "a2"],
  };
  return new Map<string, AgentStatus | null>(
    Object.entries(far).map(([me, others]) => [
      me,
      silent.includes(me)
        ? null
        : agentStatus(others.map((o) => tunnelStatus(o, { state: except[`${me}>${o}`] ?? state }))),
    ]),
  );
}

const T0 = Date.parse("2026-01-01T10:00:00.000Z");
const ALL = new Set(["a1", "a2", "b1", "b2"]);

t.test("a tunnel is up only when both ends say so; each down stretch is timed", async (t) => {
  const watch = new GapWatch(KEYS);
  watch.observe(T0, look("up"));
  t.same(watch.waiting(ALL), [], "all up: nothing to wait for");
  watch.observe(T0 + 100, look("up", { "b1>a1": "connecting" }));
  t.same(
    watch.waiting(ALL).map((k) => k.appliances),
    [["a1", "b1"]],
    "one end not up is enough",
  );
  watch.observe(T0 + 200, look("up", { "a1>b1": "down" }));
  watch.observe(T0 + 340, look("up"));
  watch.observe(T0 + 500, look("up", { "a2>b2": "down" }));
  t.same(
    watch.waiting(new Set(["a1", "b1"])),
    [],
    "a tunnel with an end not live is not waited for",
  );
  watch.observe(T0 + 900, look("up"));
  const byPair = new Map(watch.outcomes().map((o) => [o.appliances.join(), o]));
  t.same(byPair.get("a1,b1"), {
    appliances: ["a1", "b1"],
    parameter: "/k/psk/a1/b1",
    state: "up",
    down: [{ from: "2026-01-01T10:00:00.100Z", to: "2026-01-01T10:00:00.340Z", ms: 240 }],
    gapMs: 240,
  });
  t.equal(byPair.get("a2,b2")?.gapMs, 400);
  t.same(byPair.get("a1,b2")?.down, [], "never down: no stretch");
  t.equal(byPair.get("a1,b2")?.gapMs, 0);
});

t.test("still down, twice down, an end silent, an end without the tunnel", async (t) => {
  const watch = new GapWatch(KEYS);
  watch.observe(T0, look("up", { "a1>b1": "down" }));
  watch.observe(T0 + 100, look("up"));
  watch.observe(T0 + 200, look("up", { "a1>b1": "down", "a2>b1": "down" }, ["b2"]));
  watch.observe(T0 + 300, look("up", { "a1>b1": "up", "a2>b1": "down" }, ["b2"]));
  const byPair = new Map(watch.outcomes().map((o) => [o.appliances.join(), o]));
  t.equal(byPair.get("a1,b1")?.gapMs, 200, "two stretches of 100 ms");
  t.equal(byPair.get("a1,b1")?.down.length, 2);
  t.match(byPair.get("a2,b1"), { state: "down", gapMs: null, down: [{ to: null, ms: null }] });
  t.match(byPair.get("a1,b2"), { state: "unknown", note: "b2 did not answer" });
  t.same(
    watch.waiting(ALL).map((k) => k.appliances),
    [
      ["a1", "b2"],
      ["a2", "b1"],
      ["a2", "b2"],
    ],
    "a silent end of a live agent is waited for",
  );

  const missing = new GapWatch(KEYS);
  const statuses = look("up");
  statuses.set("b1", agentStatus([tunnelStatus("a2", { state: "up" })]));
  missing.observe(T0, statuses);
  const a1b1 = missing.outcomes().find((o) => o.appliances.join() === "a1,b1");
  t.match(a1b1, { state: "unknown", note: "b1 has no tunnel named a1" });
  t.same(missing.waiting(ALL), [], "a tunnel an end does not have cannot come up: not waited for");
});
