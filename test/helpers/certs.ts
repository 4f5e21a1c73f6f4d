import { chmod, mkdir, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { TlsMaterial } from "../../common/agent-api/tls.ts";
import { makeCa, newKey, sign } from "../../common/openssl-ca.ts";
import { Secret } from "../../common/secret.ts";

/**
 * A throwaway PKI made with openssl at test time (keys are never committed): a CA, a server
 * certificate for 127.0.0.1, a read-only and an operator client certificate from the same CA,
 * and from a second CA client certificates the server must refuse. Every file is 0600, as the
 * agent requires of keys.
 */

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
  const server = await sign(ca, csr("server"), crt("server"), { profile: "server" });
  const expired = await sign(ca, csr("server"), crt("expired"), {
    profile: "server",
    validity: ["-startdate", "20200101000000Z", "-enddate", "20200201000000Z"],
  });
  const client = await sign(ca, csr("client"), crt("client"), { profile: "client" });
  const operator = await sign(ca, csr("operator"), crt("operator"), { profile: "client" });
  const foreign = await sign(other, csr("foreign"), crt("foreign"), { profile: "client" });
  const foreignOperator = await sign(other, csr("foreign-op"), crt("foreign-op"), {
    profile: "client",
  });

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
