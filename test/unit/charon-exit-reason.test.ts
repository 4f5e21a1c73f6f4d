import t from "tap";
import { exitReason } from "../../agent/src/charon/exit-reason.ts";

// What charon 5.9.8 wrote, seen here, for the ways it fails to start.
const MISSING_PLUGIN = `2026-12-01T20:50:01.101 00[LIB] plugin 'openssl': failed to load - openssl_plugin_create not found and no plugin file available
2026-12-01T20:50:01.102 00[LIB] created TUN device: ipsec0
2026-12-01T20:50:01.103 00[LIB] feature CUSTOM:libcharon in critical plugin 'charon-systemd' has unmet dependency: NONCE_GEN
2026-12-01T20:50:01.104 00[LIB] failed to load 3 critical plugin features`;

const SYNTAX_ERROR = `00[CFG] syntax error, unexpected end of file, expecting NAME or NEWLINE or '}'
00[CFG] invalid config file '/tmp/x/strongswan.conf'
00[LIB] abort initialization due to invalid configuration`;

const cases: [string, string, string | null][] = [
  [
    "a missing plugin: the cause first, then the consequence",
    MISSING_PLUGIN,
    "plugin 'openssl': failed to load - openssl_plugin_create not found and no plugin file available; failed to load 3 critical plugin features",
  ],
  [
    "a broken strongswan.conf (on stderr, without times)",
    SYNTAX_ERROR,
    "syntax error, unexpected end of file, expecting NAME or NEWLINE or '}'; abort initialization due to invalid configuration",
  ],
  ["one troubled line is not repeated", "00[DMN] unable to bind socket\n", "unable to bind socket"],
  [
    "nothing troubled: the last line",
    "00[DMN] Starting IKE charon daemon\n00[DMN] SIGTERM received, shutting down\n",
    "SIGTERM received, shutting down",
  ],
  ["nothing at all", "\n\n", null],
];

for (const [name, output, expected] of cases) {
  t.equal(exitReason(output), expected, name);
}

t.test("a very long reason is cut", async (t) => {
  const reason = exitReason(`00[LIB] failed ${"x".repeat(1000)}`);
  t.equal(reason?.length, 400);
  t.ok(reason?.endsWith("…"));
});
