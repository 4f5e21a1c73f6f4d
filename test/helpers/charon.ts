import type { ChildProcess } from "node:child_process";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CharonLink } from "../../agent/src/charon/link.ts";
import { ViciClient } from "../../agent/src/vici/client.ts";
import { SwpError } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import { nsSpawn, stopChild } from "./netns.ts";

/** Plugins enough for PSK tunnels with userspace ESP (no xfrm needed) and VICI. */
export const TEST_PLUGINS =
  "nonce random openssl aes sha2 hmac gcm curve25519 kernel-netlink kernel-libipsec socket-default vici";

/**
 * A strongswan.conf for one test charon: its own VICI socket and log file, nothing from
 * /etc. `extra` is spliced into the charon-systemd section verbatim.
 */
export function charonConf(opts: {
  viciSocket: string;
  logFile: string;
  extra?: string;
  plugins?: string;
}): string {
  return `charon-systemd {
  load = ${opts.plugins ?? TEST_PLUGINS}
  plugins {
    vici {
      socket = unix://${opts.viciSocket}
    }
  }
  filelog {
    test {
      path = ${opts.logFile}
      time_format = %T
      default = 1
      ike = 2
      cfg = 2
    }
  }
  journal {
    default = -1
  }
${opts.extra ?? ""}
}
`;
}

export interface Charon {
  child: ChildProcess;
  viciSocket: string;
  /** Kills charon (SIGTERM by default) and waits for it to exit; safe to call twice. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts charon-systemd in `ns` with the strongswan.conf at `confPath` and resolves once
 * its VICI socket answers a version command.
 */
export async function startCharon(opts: {
  ns: string;
  confPath: string;
  viciSocket: string;
  timeoutMs?: number;
}): Promise<Charon> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const child = nsSpawn(opts.ns, "charon-systemd", [], {
    env: { ...process.env, STRONGSWAN_CONF: opts.confPath },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  const charon: Charon = {
    child,
    viciSocket: opts.viciSocket,
    stop: (signal) => stopChild(child, signal),
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new SwpError("SWP_ERR_FAILED", `charon exited during startup: ${stderr}`);
    }
    try {
      const client = await ViciClient.connect(opts.viciSocket, { timeoutMs: 1000 });
      try {
        await client.call("version", {}, { timeoutMs: 1000 });
        return charon;
      } finally {
        client.close();
      }
    } catch (err) {
      if (Date.now() > deadline) {
        await charon.stop("SIGKILL");
        throw new SwpError(
          "SWP_ERR_FAILED",
          `charon's VICI socket did not answer within ${timeoutMs} ms: ${stderr}`,
          undefined,
          { cause: err },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** A CharonLink to a charon that is already running, connected and ready. */
export async function readyLink(viciPath: string, logger: Logger): Promise<CharonLink> {
  const link = new CharonLink({
    viciPath,
    connectTimeoutMs: 15_000,
    logger,
    onReady: () => {},
    onEvent: () => {},
    onLost: () => {},
  });
  link.connect();
  const deadline = Date.now() + 15_000;
  while (!link.ready) {
    if (Date.now() > deadline) throw new SwpError("SWP_ERR_FAILED", `no VICI at ${viciPath}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return link;
}

/**
 * A "charon" for crash-loop tests: a script in `dir` that starts the real charon-systemd on a
 * broken strongswan.conf (it exits at once, code 66) while that file exists, and on the
 * agent's own file once it is removed.
 */
export async function writeBrokenCharon(
  dir: string,
): Promise<{ binary: string; brokenConf: string }> {
  const brokenConf = join(dir, "broken.conf");
  await writeFile(brokenConf, "charon-systemd {\n  load = nonce\n  plugins {\n");
  const binary = join(dir, "charon");
  await writeFile(
    binary,
    `#!/bin/sh\n[ -e ${brokenConf} ] && export STRONGSWAN_CONF=${brokenConf}\nexec /usr/sbin/charon-systemd\n`,
  );
  await chmod(binary, 0o755);
  return { binary, brokenConf };
}
