import { execFile } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import t from "tap";
import { ApiClient } from "../../common/agent-api/client.ts";
import { SwpError } from "../../common/errors.ts";
import { STATUS, startTlsApi, tempDir } from "../helpers/api-fakes.ts";
import { readTls } from "../helpers/certs.ts";

/**
 * images/make-certs.sh, as an operator runs it: a CA, an agent's server certificate, the
 * controller's read-only client certificate and a short-lived operator's, then the agent's
 * real HTTPS API (with a fake daemon behind it) serving them: the controller may read, only
 * the operator may act.
 */

const SCRIPT = resolve(import.meta.dirname, "../../images/make-certs.sh");
const exec = promisify(execFile);
const run = (...args: string[]) =>
  exec("sh", [SCRIPT, ...args], { encoding: "utf8" }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: e.code ?? -1,
      stdout: e.stdout ?? "",
      stderr: e.stderr ?? "",
    }),
  );
const openssl = async (...args: string[]) => (await exec("openssl", args)).stdout;
const mode = async (path: string) => ((await stat(path)).mode & 0o777).toString(8);

const dir = join(await tempDir(t), "pki");

t.test("a CA, an agent, the controller and an operator: files, modes, fields", async (t) => {
  for (const args of [
    ["ca", dir],
    ["agent", dir, "a1", "127.0.0.1", "10.1.1.10"],
    ["controller", dir],
    ["operator", dir, "alice"],
  ]) {
    const r = await run(...args);
    t.equal(r.code, 0, `${args[0]}: ${r.stderr}`);
  }
  t.equal(await mode(dir), "700");
  for (const key of ["ca", "a1", "controller", "alice"]) {
    t.equal(await mode(join(dir, `${key}.key`)), "600", `${key}.key is 0600`);
    t.equal(await mode(join(dir, `${key}.pem`)), "644", `${key}.pem is 0644`);
  }
  for (const leaf of ["a1", "controller", "alice"]) {
    const verified = await openssl(
      "verify",
      "-CAfile",
      join(dir, "ca.pem"),
      join(dir, `${leaf}.pem`),
    );
    t.match(verified, /: OK/, `${leaf} is signed by the CA`);
  }
  const text = (leaf: string) =>
    openssl("x509", "-in", join(dir, `${leaf}.pem`), "-noout", "-text");
  const agent = await text("a1");
  t.match(agent, /IP Address:127\.0\.0\.1, IP Address:10\.1\.1\.10/, "the agent's addresses");
  t.match(agent, /TLS Web Server Authentication/);
  t.match(await text("controller"), /TLS Web Client Authentication/);
  const alice = await openssl(
    "x509",
    "-in",
    join(dir, "alice.pem"),
    "-noout",
    "-subject",
    "-dates",
  );
  t.match(alice, /subject=OU ?= ?swanpair-operator, CN ?= ?alice/);
  const [from, to] = [/notBefore=(.*)/, /notAfter=(.*)/].map((re) =>
    Date.parse(re.exec(alice)?.[1] ?? ""),
  );
  t.equal((to ?? 0) - (from ?? 0), 86_400_000, "an operator's certificate lasts one day");
});

t.test("the agent's API serves them: the controller reads, only the operator acts", async (t) => {
  const pem = (name: string) => ({
    ca: join(dir, "ca.pem"),
    cert: join(dir, `${name}.pem`),
    key: join(dir, `${name}.key`),
  });
  const agent = await startTlsApi(t, pem("a1"));
  const as = async (who: string) =>
    new ApiClient({ url: agent.url, tls: await readTls(pem(who)) }, { timeoutMs: 5000 });
  const controller = await as("controller");
  t.same(await controller.status(), STATUS, "the controller reads the status");
  const refused = await controller.reload().catch((e: unknown) => e);
  t.ok(refused instanceof SwpError, "and may not act");
  if (refused instanceof SwpError) t.match(refused.details, { status: 403 });
  await (await as("alice")).reload();
  t.same(agent.control.calls, ["reload"], "the operator's reload reached the daemon");
});

t.test("refusals: bad usage, names and addresses; nothing is remade or overwritten", async (t) => {
  const before = await readFile(join(dir, "a1.pem"), "utf8");
  const again = await run("agent", dir, "a1", "127.0.0.1");
  t.equal(again.code, 0);
  t.match(again.stderr, /a1\.pem exists; remove it and its key to make a new one/);
  t.equal(await readFile(join(dir, "a1.pem"), "utf8"), before, "the agent's certificate is kept");
  const ca = await run("ca", dir);
  t.equal(ca.code, 1);
  t.match(ca.stderr, /ca\.key exists; remove it to make a new CA/);
  t.equal((await run("agent", dir, "a2")).code, 2, "an agent without an address is bad usage");
  t.match((await run("agent", dir, "a 2", "10.0.0.1")).stderr, /name 'a 2': use letters/);
  t.match((await run("agent", dir, "a2", "host.example")).stderr, /'host\.example' is not an IP/);
  t.match((await run("operator", dir, "bob", "0")).stderr, /DAYS '0'/);
  const empty = join(await tempDir(t), "none");
  t.match((await run("controller", empty)).stderr, /no CA in .*: run .* ca /);
  t.equal((await run("nonsense", dir)).code, 2);
});
