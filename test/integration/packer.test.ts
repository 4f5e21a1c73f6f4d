import { execFile } from "node:child_process";
import { cp, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import t from "tap";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * The AMI template (images/packer/, docs/install.md "AMI with Packer") against Debian 12's
 * packer 1.6.6: `packer validate` accepts it with good variables and rejects a misspelled
 * block, a missing required variable, a bad SHA-256 and a missing .deb; `packer fmt -check`
 * passes; provision.sh parses.
 *
 * Full validation, not -syntax-only: 1.6.6's amazon-ebs only checks the configuration (the
 * AMI filter is resolved by `packer build`), with no credentials and no network (strace shows
 * only Unix sockets to its own plugin processes), and it checks more than the syntax: the
 * variables' rules and that the .deb exists (a stand-in file here). So that nothing can reach
 * AWS, no AWS setting of the caller's is passed, IMDS and the update check are off, and as
 * root packer runs in a network namespace of its own.
 */
const DIR = resolve(import.meta.dirname, "../../images/packer");
const TEMPLATE = "swanpair.pkr.hcl";
const SHA = "0".repeat(64);

// CI installs Debian's packer (scripts/bootstrap.sh): without it this test fails, never skips.
const version = await new Promise<string>((done, fail) =>
  execFile("packer", ["version"], { env: { PATH: process.env.PATH ?? "" } }, (err, stdout) =>
    err
      ? fail(
          new Error(
            `packer is not installed or does not run (apt-get install packer): ${err.message}`,
          ),
        )
      : done(stdout.trim()),
  ),
);
t.comment(version);

const dir = await tempDir(t, "swp-packer-");
const deb = join(dir, "swanpair_0.1.0_amd64.deb");
await writeFile(deb, "not a real package\n");
const goodVars = { deb, deb_sha256: SHA, region: "eu-west-1" };

/** None of the caller's AWS settings: no keys, no profile, no IMDS, no checkpoint call. */
const env = {
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: dir,
  TMPDIR: dir,
  CHECKPOINT_DISABLE: "1",
  AWS_EC2_METADATA_DISABLED: "true",
  AWS_CONFIG_FILE: join(dir, "no-aws-config"),
  AWS_SHARED_CREDENTIALS_FILE: join(dir, "no-aws-credentials"),
};
const isolate = process.getuid?.() === 0;

interface Result {
  code: number;
  out: string;
}

function packer(args: string[], cwd = DIR): Promise<Result> {
  const [cmd, argv] = isolate ? ["unshare", ["--net", "packer", ...args]] : ["packer", args];
  return new Promise((done) => {
    execFile(cmd, argv, { cwd, env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      done({ code, out: `${stdout}${stderr}${err && code === -1 ? err.message : ""}` });
    });
  });
}

function varArgs(vars: Record<string, string>): string[] {
  return Object.entries(vars).flatMap(([k, v]) => ["-var", `${k}=${v}`]);
}

/** A copy of images/packer/ with the template edited, for the cases that must fail. */
async function brokenCopy(name: string, edit: (text: string) => string): Promise<string> {
  const copy = join(dir, name);
  await cp(DIR, copy, { recursive: true });
  const text = await readFile(join(copy, TEMPLATE), "utf8");
  const edited = edit(text);
  if (edited === text) throw new Error(`${name}: the edit changed nothing`);
  await writeFile(join(copy, TEMPLATE), edited);
  return copy;
}

t.test("validate: the template with good variables", async (t) => {
  const r = await packer(["validate", ...varArgs(goodVars), TEMPLATE]);
  t.equal(r.code, 0, r.out);
});

t.test("validate: a misspelled block fails", async (t) => {
  const copy = await brokenCopy("misspelled", (s) =>
    s.replace('provisioner "file"', 'provisoner "file"'),
  );
  const r = await packer(["validate", ...varArgs(goodVars), TEMPLATE], copy);
  t.not(r.code, 0, "exit status");
  t.match(r.out, /provisoner/);
});

t.test("validate: a missing required variable fails", async (t) => {
  const { deb_sha256: _, ...vars } = goodVars;
  const r = await packer(["validate", ...varArgs(vars), TEMPLATE]);
  t.not(r.code, 0, "exit status");
  t.match(r.out, /deb_sha256/);
});

t.test("validate: a deb_sha256 that is not one fails", async (t) => {
  const r = await packer(["validate", ...varArgs({ ...goodVars, deb_sha256: "abc" }), TEMPLATE]);
  t.not(r.code, 0, "exit status");
  t.match(r.out, /64 lowercase hex digits/);
});

t.test("validate: a .deb that is not there fails", async (t) => {
  const r = await packer([
    "validate",
    ...varArgs({ ...goodVars, deb: join(dir, "swanpair_9.9.9_amd64.deb") }),
    TEMPLATE,
  ]);
  t.not(r.code, 0, "exit status");
  t.match(r.out, /swanpair_9\.9\.9_amd64\.deb/);
});

t.test("fmt -check: the template is formatted", async (t) => {
  const r = await packer(["fmt", "-check", TEMPLATE]);
  t.equal(r.code, 0, r.out);
});

t.test("no credentials in the template; provision.sh parses", async (t) => {
  const text = await readFile(join(DIR, TEMPLATE), "utf8");
  t.notMatch(text, /\b(access_key|secret_key|token|profile|assume_role)\s*=/);
  const r = await new Promise<Result>((done) =>
    execFile("sh", ["-n", join(DIR, "provision.sh")], (err, _o, stderr) =>
      done({ code: err ? 1 : 0, out: stderr }),
    ),
  );
  t.equal(r.code, 0, r.out);
});
