import t from "tap";
import { summariseSas as summarise } from "../../agent/src/health/sa-state.ts";
import type { DecodedMessage } from "../../agent/src/vici/message.ts";

/** list-sas events as charon sends them: one `{<conn name>: <IKE_SA>}` each. */
const summariseSas = (events: Record<string, DecodedMessage>[]) =>
  summarise(events.flatMap((e) => Object.entries(e).map(([ikeName, ike]) => ({ ikeName, ike }))));

const child = (name: string, uniqueid: string, state: string) => ({
  [`${name}-${uniqueid}`]: { name, uniqueid, state, "install-time": "3" },
});

t.test("one established IKE_SA with an installed child", async (t) => {
  const m = summariseSas([
    {
      "to-b1": {
        uniqueid: "1",
        state: "ESTABLISHED",
        established: "5",
        initiator: "yes",
        "child-sas": child("to-b1", "1", "INSTALLED"),
      },
    },
  ]);
  t.same(m.get("to-b1"), {
    ike: { uniqueId: "1", state: "ESTABLISHED", establishedS: 5, initiator: true },
    child: { uniqueId: "1", state: "INSTALLED", installedS: 3 },
  });
});

t.test("during a replace the live, newest SA is reported", async (t) => {
  const m = summariseSas([
    { "to-b1": { uniqueid: "1", state: "DELETING", "child-sas": child("to-b1", "1", "DELETING") } },
    {
      "to-b1": {
        uniqueid: "4",
        state: "ESTABLISHED",
        "child-sas": child("to-b1", "7", "INSTALLED"),
      },
    },
    { "to-b1": { uniqueid: "5", state: "CONNECTING", "child-sas": {} } },
  ]);
  t.equal(m.get("to-b1")?.ike?.uniqueId, "4");
  t.equal(m.get("to-b1")?.child?.uniqueId, "7");
});

t.test("an installed child beats a newer one being set up", async (t) => {
  const m = summariseSas([
    {
      a: {
        uniqueid: "2",
        state: "ESTABLISHED",
        "child-sas": { ...child("a", "3", "INSTALLED"), ...child("a", "9", "INSTALLING") },
      },
    },
  ]);
  t.equal(m.get("a")?.child?.uniqueId, "3");
});

t.test("children of other names do not count for the IKE_SA's tunnel", async (t) => {
  const m = summariseSas([
    { a: { uniqueid: "2", state: "CONNECTING", "child-sas": child("other", "3", "INSTALLED") } },
  ]);
  t.equal(m.get("a")?.child, null);
});

t.test("a child living under another tunnel's IKE_SA is found by its own name", async (t) => {
  const m = summariseSas([
    {
      one: {
        uniqueid: "1",
        state: "ESTABLISHED",
        "child-sas": { ...child("one", "1", "INSTALLED"), ...child("two", "2", "INSTALLED") },
      },
    },
  ]);
  t.equal(m.get("two")?.child?.uniqueId, "2");
  t.equal(m.get("two")?.ike?.uniqueId, "1");
  t.equal(m.get("one")?.child?.uniqueId, "1");
});

t.test("an IKE_SA the far end made: charon omits `initiator`", async (t) => {
  const m = summariseSas([{ "to-b1": { uniqueid: "2", state: "ESTABLISHED", established: "1" } }]);
  t.equal(m.get("to-b1")?.ike?.initiator, false);
});
