import t from "tap";
import type { CheckResult } from "../../agent/src/preflight/checks.ts";
import { formatChecks, formatPreflightFailure } from "../../agent/src/preflight/format.ts";

const ok: CheckResult = { id: "charon-binary", status: "pass", message: "found" };
const skipped: CheckResult = { id: "tun-device", status: "skip", message: "not needed" };
const openssl: CheckResult = {
  id: "plugin:openssl",
  status: "fail",
  message: 'strongSwan plugin "openssl" is not installed',
  package: "libstrongswan-standard-plugins",
};
const gcm: CheckResult = { ...openssl, id: "plugin:gcm", message: "gcm missing" };
const state: CheckResult = { id: "state-dir", status: "fail", message: "not writable" };

t.test("all passed", async (t) => {
  t.equal(
    formatChecks([ok, skipped]),
    "ok    charon-binary  found\nskip  tun-device     not needed\nall 1 checks passed",
  );
});

t.test("failures name each package once", async (t) => {
  const out = formatChecks([ok, openssl, gcm, state]).split("\n");
  t.equal(out[1], 'FAIL  plugin:openssl  strongSwan plugin "openssl" is not installed');
  t.equal(out.at(-2), "3 of 4 checks failed");
  t.equal(out.at(-1), "install: apt-get install libstrongswan-standard-plugins");
});

t.test("run's lines: each failure, the install line, and where to look", async (t) => {
  t.same(formatPreflightFailure([openssl, state], "/etc/a.yaml"), [
    'preflight: strongSwan plugin "openssl" is not installed',
    "preflight: not writable",
    "preflight: install with: apt-get install libstrongswan-standard-plugins",
    "preflight: nothing was started; `swanpair-agent doctor --config /etc/a.yaml` lists every check",
  ]);
  t.same(formatPreflightFailure([state], "/a.yaml").length, 2, "no install line without a package");
});
