import { resolve } from "node:path";
import t from "tap";
import { writeBrokenCharon } from "../helpers/charon.ts";
import { spawnCli } from "../helpers/swanpair-bin.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * The README's main command, as a user runs it: it passes here, and when charon cannot run it
 * gives up within seconds and says why (it once waited 220 s and said only "did not come up").
 */

const DEMO = resolve(import.meta.dirname, "../../scripts/demo.sh");
const demo = (env: NodeJS.ProcessEnv = {}) =>
  spawnCli("/bin/bash", [DEMO], { ...process.env, ...env });

t.test("the demo brings the tunnel up and pings through it", async (t) => {
  const result = await demo();
  t.equal(result.code, 0, result.stderr);
  t.match(result.stdout, /3 packets transmitted, 3 received/);
  t.match(result.stdout, /to-peer +up +198\.18\.0\.2/);
});

t.test(
  "a charon that exits at once: the demo stops within 15 s with charon's reason",
  async (t) => {
    const dir = await tempDir(t, "swp-demo-");
    const { binary } = await writeBrokenCharon(dir);
    const started = Date.now();
    const result = await demo({ SWANPAIR_DEMO_CHARON: binary });
    const tookMs = Date.now() - started;
    t.equal(result.code, 1);
    t.ok(tookMs < 15_000, `gave up after ${tookMs} ms`);
    t.match(result.stderr, /charon keeps exiting on [ab]1/);
    t.match(result.stderr, /charon exited \(code 66\) after .*syntax error/);
  },
);

t.test("a charon that is not there: the agent's preflight says which package", async (t) => {
  const started = Date.now();
  const result = await demo({ SWANPAIR_DEMO_CHARON: "/nonexistent/charon-systemd" });
  t.equal(result.code, 1);
  t.ok(Date.now() - started < 15_000, "gave up at once");
  t.match(result.stderr, /the agent for [ab]1 exited/);
  t.match(result.stderr, /is not installed \(Debian package charon-systemd\)/);
});
