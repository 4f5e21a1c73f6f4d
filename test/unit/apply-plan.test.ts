import t from "tap";
import { type Fingerprints, isNoop, planApply } from "../../agent/src/apply/plan.ts";

const fp = (conns: Record<string, string>, secrets: Record<string, string> = {}): Fingerprints => ({
  conns: new Map(Object.entries(conns)),
  secrets: new Map(Object.entries(secrets)),
});

t.test("fresh charon: everything is loaded", async (t) => {
  const plan = planApply(
    fp({ a: "1", b: "2" }, { "psk-a": "s" }),
    { conns: [], secrets: [] },
    fp({}),
  );
  t.same(plan, {
    loadSecrets: ["psk-a"],
    loadConns: ["a", "b"],
    unloadConns: [],
    unloadSecrets: [],
    unchanged: [],
  });
  t.notOk(isNoop(plan));
});

t.test("same desired state again sends nothing", async (t) => {
  const state = fp({ a: "1", b: "2" }, { "psk-a": "s" });
  const plan = planApply(state, { conns: ["a", "b"], secrets: ["psk-a"] }, state);
  t.same(plan.unchanged, ["a", "b"]);
  t.ok(isNoop(plan));
});

t.test("one changed connection among many: only it is loaded", async (t) => {
  const conns = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`t${i}`, "d"]));
  const applied = fp(conns);
  const desired = fp({ ...conns, t7: "changed" });
  const plan = planApply(desired, { conns: Object.keys(conns), secrets: [] }, applied);
  t.same(plan.loadConns, ["t7"]);
  t.equal(plan.unchanged.length, 499);
});

t.test("removed connections and secrets are unloaded", async (t) => {
  const plan = planApply(
    fp({ a: "1" }, { "psk-a": "s" }),
    { conns: ["a", "gone"], secrets: ["psk-a", "psk-gone"] },
    fp({ a: "1", gone: "2" }, { "psk-a": "s", "psk-gone": "t" }),
  );
  t.same(plan.unloadConns, ["gone"]);
  t.same(plan.unloadSecrets, ["psk-gone"]);
  t.same(plan.loadConns, []);
});

t.test("a connection charon lost (or never confirmed) is loaded again", async (t) => {
  const state = fp({ a: "1", b: "2" });
  const plan = planApply(state, { conns: ["a"], secrets: [] }, state);
  t.same(plan.loadConns, ["b"]);
});

t.test("a changed PSK reloads only the secret", async (t) => {
  const plan = planApply(
    fp({ a: "1" }, { "psk-a": "new" }),
    { conns: ["a"], secrets: ["psk-a"] },
    fp({ a: "1" }, { "psk-a": "old" }),
  );
  t.same(plan.loadSecrets, ["psk-a"]);
  t.same(plan.loadConns, []);
});
