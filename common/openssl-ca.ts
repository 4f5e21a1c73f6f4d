import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

/**
 * A small CA driven by the openssl CLI: `openssl ca` signs every leaf, so validity dates can be
 * set (even in the past) and each server certificate names its own addresses. Keys are P-256.
 * Used by the failover lab and the tests; callers set file modes.
 */

const run = promisify(execFile);

export interface OpensslCa {
  dir: string;
  cert: string;
}

export async function makeCa(dir: string, name: string, days = 2): Promise<OpensslCa> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, "index.txt"), "");
  await writeFile(join(dir, "serial"), "1000\n");
  // The server profile's subjectAltName comes from the environment: one config, many servers.
  await writeFile(
    join(dir, "ca.cnf"),
    `[ca]
default_ca = default
[default]
database = ${join(dir, "index.txt")}
new_certs_dir = ${dir}
serial = ${join(dir, "serial")}
default_md = sha256
policy = any
unique_subject = no
[any]
organizationalUnitName = optional
commonName = supplied
[server]
basicConstraints = critical,CA:FALSE
subjectAltName = $ENV::SWANPAIR_SAN
extendedKeyUsage = serverAuth
[client]
basicConstraints = critical,CA:FALSE
extendedKeyUsage = clientAuth
`,
  );
  const cert = join(dir, "ca.crt");
  await run("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
    ...["-keyout", join(dir, "ca.key"), "-out", cert, "-days", String(days)],
    ...["-subj", `/CN=${name}`],
    ...["-addext", "basicConstraints=critical,CA:TRUE"],
    ...["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
  ]);
  return { dir, cert };
}

/** A key and its request in dir; `subject` in openssl's form, e.g. "/OU=swanpair-operator/CN=alice". */
export async function newKey(dir: string, name: string, subject: string): Promise<string> {
  const key = join(dir, `${name}.key`);
  await run("openssl", [
    ...["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
    ...["-keyout", key, "-out", join(dir, `${name}.csr`), "-subj", subject],
  ]);
  return key;
}

export interface SignOptions {
  profile: "server" | "client";
  /** Server certificates: the addresses they are valid for. */
  ips?: string[];
  /** openssl's validity options; default two days from now. */
  validity?: string[];
}

export async function sign(
  ca: OpensslCa,
  csr: string,
  out: string,
  { profile, ips = ["127.0.0.1"], validity = ["-days", "2"] }: SignOptions,
): Promise<string> {
  await run(
    "openssl",
    [
      ...["ca", "-batch", "-notext", "-config", join(ca.dir, "ca.cnf"), "-cert", ca.cert],
      ...["-keyfile", join(ca.dir, "ca.key"), "-in", csr, "-out", out, "-extensions", profile],
      ...validity,
    ],
    { env: { ...process.env, SWANPAIR_SAN: ips.map((a) => `IP:${a}`).join(",") } },
  );
  return out;
}
