import { type ClientRequest, request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import { type ConnectionOptions, createSecureContext, type SecureContext } from "node:tls";
import { SwpError } from "../errors.ts";
import { secureContextOptions, type TlsMaterial } from "./tls.ts";

/**
 * The two ways to reach an agent's API: its Unix socket (local, root-only), or HTTPS with
 * mutual TLS (the control plane). ApiClient is the same over both; only connecting, and what
 * to tell the user when connecting fails, differ.
 */

export type ApiTarget = { socketPath: string } | { url: string; tls: TlsMaterial };

export interface Transport {
  /** The socket path or the URL, for messages. */
  readonly where: string;
  request(method: string, path: string, onResponse: (res: IncomingMessage) => void): ClientRequest;
  /** What to check, in a few words, after a failed connection. */
  hint(err: NodeJS.ErrnoException): string;
}

/** Throws SwpError SWP_ERR_API_UNREACHABLE when the TLS material does not parse. */
export function transportFor(target: ApiTarget): Transport {
  return "socketPath" in target
    ? unixTransport(target.socketPath)
    : httpsTransport(target.url, target.tls);
}

const UNIX_HINTS: Record<string, string> = {
  ENOENT: "no socket there: is swanpair-agent running, and is this the socket path it was given?",
  ECONNREFUSED:
    "nothing listens on it: swanpair-agent is not running (the file is left from a crash)",
  EACCES: "permission denied: the API socket is root-only, run this as root",
};

function unixTransport(socketPath: string): Transport {
  return {
    where: socketPath,
    // agent:false: one connection per call, closed after, so a CLI exits as soon as it is done.
    request: (method, path, onResponse) =>
      httpRequest({ socketPath, path, method, agent: false }, onResponse),
    hint: (err) => UNIX_HINTS[err.code ?? ""] ?? failed(err),
  };
}

function httpsTransport(url: string, tls: TlsMaterial): Transport {
  const base = new URL(url);
  if (base.protocol !== "https:") throw new Error(`agent API URL ${url} is not https://`);
  let secureContext: SecureContext;
  try {
    // Parsed once here, not per request.
    secureContext = createSecureContext(secureContextOptions(tls));
  } catch (err) {
    throw new SwpError(
      "SWP_ERR_API_UNREACHABLE",
      `agent API at ${url}: the client's TLS files are unusable: ${(err as Error).message}`,
      undefined,
      { cause: err },
    );
  }
  return {
    where: url,
    request: (method, path, onResponse) => {
      // https.request hands secureContext on to tls.connect, though its type does not say so.
      // The default checkServerIdentity stays: the agent's certificate must name the URL's host.
      const options: RequestOptions & ConnectionOptions = { method, agent: false, secureContext };
      return httpsRequest(new URL(path, base), options, onResponse);
    },
    hint: (err) => {
      if (err.code === "ECONNREFUSED") {
        return "nothing listens there: is swanpair-agent running with api.listen on this address and port?";
      }
      const problem = tlsProblem(err.code ?? "");
      if (!problem) return failed(err);
      // OpenSSL's `reason` is the short form of its message, which also names source files.
      return `TLS: ${problem} (${err.code}: ${(err as { reason?: string }).reason ?? err.message})`;
    },
  };
}

const UNTRUSTED = "the agent's certificate is not signed by a CA in this client's tls.ca";

/** X.509 verification of the agent's certificate, by OpenSSL's code. */
const SERVER_CERT_PROBLEMS: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: UNTRUSTED,
  UNABLE_TO_GET_ISSUER_CERT: UNTRUSTED,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: UNTRUSTED,
  SELF_SIGNED_CERT_IN_CHAIN: UNTRUSTED,
  DEPTH_ZERO_SELF_SIGNED_CERT: UNTRUSTED,
  CERT_SIGNATURE_FAILURE: UNTRUSTED,
  CERT_UNTRUSTED: UNTRUSTED,
  CERT_HAS_EXPIRED: "the agent's certificate has expired",
  CERT_NOT_YET_VALID: "the agent's certificate is not valid yet (are the clocks right?)",
  ERR_TLS_CERT_ALTNAME_INVALID: "the agent's certificate does not name the host in the URL",
};

const CLIENT_CERT_RULE =
  "this client's certificate must be signed by a CA in the agent's api.listen.tls.ca, and be valid now";

function tlsProblem(code: string): string | undefined {
  const known = SERVER_CERT_PROBLEMS[code];
  if (known) return known;
  // Under TLS 1.3 the agent verifies the client after the client's side of the handshake is
  // done, and Node then drops the connection without an alert: the client sees only a reset.
  if (code === "ECONNRESET") {
    return `the agent reset the connection, most likely refusing this client's certificate; ${CLIENT_CERT_RULE}`;
  }
  if (/^ERR_SSL_.*ALERT_.*(CERTIFICATE|UNKNOWN_CA|ACCESS_DENIED)/.test(code)) {
    return `the agent refused this client's certificate; ${CLIENT_CERT_RULE}`;
  }
  if (/^ERR_(SSL|TLS|OSSL)_/.test(code)) return "the handshake failed";
  return undefined;
}

function failed(err: Error): string {
  return `connection failed (${err.message})`;
}
