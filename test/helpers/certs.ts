import { execFile } from "node:child_process";
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { TlsMaterial } from "../../common/agent-api/tls.ts";
import { Secret } from "../../common/secret.ts";

/**
 * A throwaway PKI made with openssl at test time (keys are never committed): a CA, a server
 * certificate for 127.0.0.1, a read-only and an operator client certificate from the same CA,
 * and from a second CA client certificates the server must refuse. Every file is 0600, as the
 * agent requires of keys.
 */

const run = promisify(execFile);

/** The three files one side of a mutual-TLS connection is configured with. */
export interface TlsPaths {
  ca: string;
  cert: string;
  key: string;
}

export interface TestPki {
  /** The agent's api.listen.tls: its server certificate, and the CA that signs clients. */
  server: TlsPaths;
  /** The same server key with a certificate that expired in 2020. */
  expiredServer: TlsPaths;
  /** The controller's: the CA that signed the agent, and a client certificate from it. */
  client: TlsPaths;
  /** A client certificate from the same CA with OU=swanpair-operator in its subject. */
  operatorClient: TlsPaths;
  /** A client certificate from another CA: the server must refuse it. */
  foreignClient: TlsPaths;
  /** From another CA too, though its subject claims the operator OU. */
  foreignOperator: TlsPaths;
  /** A good client certificate, but trusting only the other CA: it must refuse the server. */
  distrustfulClient: TlsPaths;
}

/** One CA: `openssl ca` signs every leaf, so validity dates can be set, even in the past. */
async function makeCa(dir: string, name: string): Promise<{ dir: string; cert: string }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, "index.txt"), "");
  await writeFile(join(dir, "serial"), "1000\n");
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
subjectAltName = IP:127.0.0.1
extendedKeyUsage = serverAuth
[client]
basicConstraints = critical,CA:FALSE
extendedKeyUsage = clientAuth
`,
  );
  const cert = join(dir, "ca.crt");
  await run("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
    ...["-keyout", join(dir, "ca.key"), "-out", cert, "-days", "2", "-subj", `/CN=${name}`],
    ...["-addext", "basicConstraints=critical,CA:TRUE"],
    ...["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
  ]);
  return { dir, cert };
}

/** A key and its request; `subject` in openssl's form, e.g. "/OU=swanpair-operator/CN=alice". */
async function newKey(dir: string, name: string, subject: string): Promise<string> {
  const key = join(dir, `${name}.key`);
  await run("openssl", [
    ...["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
    ...["-keyout", key, "-out", join(dir, `${name}.csr`), "-subj", subject],
  ]);
  return key;
}

async function sign(
  ca: { dir: string; cert: string },
  csr: string,
  out: string,
  profile: "server" | "client",
  validity: string[] = ["-days", "2"],
): Promise<string> {
  await run("openssl", [
    ...["ca", "-batch", "-notext", "-config", join(ca.dir, "ca.cnf"), "-cert", ca.cert],
    ...["-keyfile", join(ca.dir, "ca.key"), "-in", csr, "-out", out, "-extensions", profile],
    ...validity,
  ]);
  return out;
}

/** Writes the PKI under dir (which must exist) and returns the paths. */
export async function makeTestPki(dir: string): Promise<TestPki> {
  const ca = await makeCa(join(dir, "ca"), "swanpair test CA");
  const other = await makeCa(join(dir, "other-ca"), "some other CA");
  const leaves = join(dir, "leaves");
  await mkdir(leaves, { mode: 0o700 });
  const csr = (name: string) => join(leaves, `${name}.csr`);
  const crt = (name: string) => join(leaves, `${name}.crt`);

  const serverKey = await newKey(leaves, "server", "/CN=agent-a1");
  const clientKey = await newKey(leaves, "client", "/CN=controller");
  const operatorKey = await newKey(leaves, "operator", "/OU=swanpair-operator/CN=alice");
  const foreignKey = await newKey(leaves, "foreign", "/CN=intruder");
  const foreignOperatorKey = await newKey(leaves, "foreign-op", "/OU=swanpair-operator/CN=mallory");
  const server = await sign(ca, csr("server"), crt("server"), "server");
  const expired = await sign(ca, csr("server"), crt("expired"), "server", [
    ...["-startdate", "20200101000000Z", "-enddate", "20200201000000Z"],
  ]);
  const client = await sign(ca, csr("client"), crt("client"), "client");
  const operator = await sign(ca, csr("operator"), crt("operator"), "client");
  const foreign = await sign(other, csr("foreign"), crt("foreign"), "client");
  const foreignOperator = await sign(other, csr("foreign-op"), crt("foreign-op"), "client");

  for (const d of [ca.dir, other.dir, leaves]) {
    for (const f of await readdir(d)) await chmod(join(d, f), 0o600);
  }
  return {
    server: { ca: ca.cert, cert: server, key: serverKey },
    expiredServer: { ca: ca.cert, cert: expired, key: serverKey },
    client: { ca: ca.cert, cert: client, key: clientKey },
    operatorClient: { ca: ca.cert, cert: operator, key: operatorKey },
    foreignClient: { ca: ca.cert, cert: foreign, key: foreignKey },
    foreignOperator: { ca: ca.cert, cert: foreignOperator, key: foreignOperatorKey },
    distrustfulClient: { ca: other.cert, cert: client, key: clientKey },
  };
}

/** The files' PEM text, as the agent's config loader and the control plane hand it on. */
export async function readTls(paths: TlsPaths): Promise<TlsMaterial> {
  const [ca, cert, key] = await Promise.all(
    [paths.ca, paths.cert, paths.key].map((p) => readFile(p, "utf8")),
  );
  return { ca: ca as string, cert: cert as string, key: new Secret(key as string) };
}
