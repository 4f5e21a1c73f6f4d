import type { TlsMaterial } from "./agent-api/tls.ts";
import { errnoText, openRegularFile } from "./regular-file.ts";
import { Secret } from "./secret.ts";

/**
 * The files a config names (PSKs, TLS certificates and keys), for both loaders: read once by
 * the loader's shell (readFileFacts), judged by the pure checks below with the field path of
 * the config. The agent's api.listen.tls and the fleet's tls are checked by the same code.
 */

/** What the loader learned about one file. The content is wrapped so it cannot leak. */
export type FileFacts =
  | { exists: false }
  | { exists: true; mode: number; content: Secret }
  | { exists: true; readError: string };

/** Reads a file of at most maxBytes; a larger one is reported, not read into memory. */
export type FileReader = (path: string, maxBytes: number) => Promise<FileFacts>;

/** Room for a CA bundle of a few hundred certificates. */
export const TLS_FILE_MAX_BYTES = 1024 * 1024;

/** Where the checks report; both loaders' sinks have this shape. */
export interface IssueSink {
  error(path: string, rule: string, message: string): void;
  warn(path: string, rule: string, message: string): void;
}

export type Files = ReadonlyMap<string, FileFacts>;

/** Stats through the open descriptor so the mode checked is that of the bytes read. */
export async function readFileFacts(path: string, maxBytes: number): Promise<FileFacts> {
  const file = await openRegularFile(path);
  if (!file.ok) {
    return file.kind === "missing" ? { exists: false } : { exists: true, readError: file.reason };
  }
  const { handle, stats } = file;
  try {
    if (stats.size > maxBytes) {
      return { exists: true, readError: `${stats.size} bytes, over the limit of ${maxBytes}` };
    }
    // latin1 maps each byte to one character, so the PSK charset check sees every stray byte.
    const content = new Secret((await handle.readFile()).toString("latin1"));
    return { exists: true, mode: stats.mode, content };
  } catch (err) {
    return { exists: true, readError: errnoText(err) };
  } finally {
    await handle.close();
  }
}

/** A file's content and mode when it exists and could be read; otherwise reports why not. */
export function readable(at: string, file: string, files: Files, rule: string, sink: IssueSink) {
  const facts = files.get(file);
  if (facts === undefined) throw new Error(`config check: no facts for ${file}`);
  if (!facts.exists) sink.error(at, rule, `${file} does not exist`);
  else if ("readError" in facts) sink.error(at, rule, `${file} cannot be read: ${facts.readError}`);
  else return facts;
  return undefined;
}

/** Like an ssh private key: a file holding a secret must not be accessible by group or others. */
export function checkPrivateMode(
  at: string,
  file: string,
  mode: number,
  rule: string,
  sink: IssueSink,
): boolean {
  if ((mode & 0o077) === 0) return true;
  const octal = (mode & 0o777).toString(8).padStart(4, "0");
  sink.error(at, rule, `${file} has mode ${octal}; it must be 0600 or stricter (chmod 600)`);
  return false;
}

export interface TlsPaths {
  ca: string;
  cert: string;
  key: string;
}

/**
 * The TLS files of one end (`at` is their section, e.g. "api.listen.tls" or "tls"): each must
 * exist and be readable (`tls-file`), the key must be private (`tls-mode`), and the PEM must
 * parse, with the key matching the certificate (`tls-pem`); otherwise the program would fail
 * only when it connects or listens. Returns the PEM text when every file could be read.
 */
export function checkTlsFiles(
  at: string,
  tls: TlsPaths,
  files: Files,
  sink: IssueSink,
): TlsMaterial | undefined {
  // node:crypto only here, for a config with TLS files: it costs an idle agent 2 MB (decision 0008).
  const { createPrivateKey, X509Certificate } = process.getBuiltinModule("node:crypto");
  const read = (field: keyof TlsPaths) =>
    readable(`${at}.${field}`, tls[field], files, "tls-file", sink);
  // OpenSSL's reason names the problem (no PEM, wrong type, encrypted) without echoing content.
  const parse = <T>(
    field: keyof TlsPaths,
    what: string,
    pem: Secret,
    parser: (pem: string) => T,
  ) => {
    try {
      return parser(pem.reveal());
    } catch (err) {
      const reason = (err as Error).message;
      sink.error(
        `${at}.${field}`,
        "tls-pem",
        `${tls[field]} holds no usable PEM ${what}: ${reason}`,
      );
      return undefined;
    }
  };
  const toCert = (pem: string) => new X509Certificate(pem);

  const ca = read("ca");
  const cert = read("cert");
  const key = read("key");
  if (key) checkPrivateMode(`${at}.key`, tls.key, key.mode, "tls-mode", sink);
  // Of a bundle, only the first certificate is parsed here; the TLS stack reads them all.
  if (ca) parse("ca", "certificate", ca.content, toCert);
  const certificate = cert && parse("cert", "certificate", cert.content, toCert);
  const privateKey = key && parse("key", "private key", key.content, createPrivateKey);
  if (certificate && privateKey && !certificate.checkPrivateKey(privateKey)) {
    const message = `${tls.key} is not the key of the certificate in ${tls.cert}`;
    sink.error(`${at}.key`, "tls-pem", message);
  }
  if (!ca || !cert || !key) return undefined;
  return { ca: ca.content.reveal(), cert: cert.content.reveal(), key: key.content };
}
