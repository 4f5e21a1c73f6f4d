import t from "tap";
import type { ConfigPushResult } from "../../common/agent-api/status.ts";
import {
  applyTrouble,
  applyView,
  dryRunView,
  formatApply,
  lineDiff,
} from "../../control-plane/src/commands/agents-apply.ts";

/** `swanpair agents apply` as data and text: what each agent's answer makes of its row. */

const pushed = (over: Partial<ConfigPushResult> = {}): ConfigPushResult => ({
  ok: true,
  generation: 3,
  loaded: [],
  unloaded: [],
  unchanged: ["b1", "b2"],
  configChanged: false,
  ...over,
});

t.test(
  "lineDiff: hunks of removed and added lines, numbered as diff -u numbers them",
  async (t) => {
    t.same(lineDiff("a\nb\nc\n", "a\nb\nc\n"), []);
    t.same(lineDiff("a\nb\nc\n", "a\nx\nc\n"), ["@@ -2 +2 @@", "-b", "+x"]);
    t.same(lineDiff("a\nc\n", "a\nb1\nb2\nc\n"), ["@@ -1,0 +2,2 @@", "+b1", "+b2"]);
    t.same(lineDiff("a\nb\nc\n", "c\n"), ["@@ -1,2 +0,0 @@", "-a", "-b"]);
    t.same(lineDiff("", "a\n"), ["@@ -0,0 +1 @@", "+a"]);
    t.same(lineDiff("a\nb\nc\nd\n", "x\nb\nc\ny\n"), [
      ...["@@ -1 +1 @@", "-a", "+x"],
      ...["@@ -4 +4 @@", "-d", "+y"],
    ]);
  },
);

t.test("each answer is one row: applied, unchanged, refused, failed, unreachable", async (t) => {
  const issue = { path: "tunnels[1].psk.ssm", rule: "psk-length", message: "too short" };
  const view = applyView([
    { appliance: "a1", ok: true, value: pushed({ loaded: ["c1"], configChanged: true }) },
    { appliance: "a2", ok: true, value: pushed() },
    // A key rotated in SSM: the same text, yet charon got the new key.
    { appliance: "b1", ok: true, value: pushed({ loaded: ["a1"] }) },
    {
      appliance: "b2",
      ok: true,
      value: { error: { code: "SWP_ERR_CONFIG_INVALID", message: "invalid", issues: [issue] } },
    },
    { appliance: "c1", ok: false, code: "SWP_ERR_API_REQUEST", error: "forbidden" },
    { appliance: "c2", ok: false, code: "SWP_ERR_API_UNREACHABLE", error: "no socket" },
  ]);
  t.same(
    view.appliances.map((a) => [a.name, a.outcome]),
    [
      ["a1", "applied"],
      ["a2", "unchanged"],
      ["b1", "applied"],
      ["b2", "refused"],
      ["c1", "failed"],
      ["c2", "unreachable"],
    ],
  );
  t.same(applyTrouble(view), ["not applied: b2 (refused), c1 (failed), c2 (unreachable)"]);
  const text = formatApply(view, { color: false });
  t.match(text, /^a1\s+applied\s+3\s+c1\s+-\s+2$/m);
  t.match(text, /^b2\s+refused: invalid$/m);
  t.match(text, /^b2: tunnels\[1\]\.psk\.ssm: too short \[psk-length\]$/m, "each issue below");
  t.match(text, /^c2\s+unreachable: no socket$/m);
});

t.test("a dry run compares texts and shows the lines", async (t) => {
  const rendered = new Map([
    ["a1", "x: 1\ny: 2\n"],
    ["a2", "x: 1\n"],
  ]);
  const view = dryRunView(rendered, [
    { appliance: "a1", ok: true, value: "x: 1\ny: 1\n" },
    { appliance: "a2", ok: true, value: "x: 1\n" },
  ]);
  t.same(view.appliances, [
    { name: "a1", outcome: "would-change", diff: ["@@ -2 +2 @@", "-y: 1", "+y: 2"] },
    { name: "a2", outcome: "unchanged" },
  ]);
  t.same(applyTrouble(view), [], "a change to come is no trouble");
  t.equal(
    formatApply(view, { color: false }),
    [
      "APPLIANCE   RESULT         LINES",
      "a1          would-change   -1 +1",
      "a2          unchanged      -",
      "",
      "--- a1 (running)",
      "+++ a1 (rendered)",
      "@@ -2 +2 @@",
      "-y: 1",
      "+y: 2",
    ].join("\n"),
  );
});
