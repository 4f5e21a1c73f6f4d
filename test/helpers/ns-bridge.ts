import type { ChildProcess } from "node:child_process";
import { rm } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { nsSpawn, stopChild } from "./netns.ts";

/**
 * A loopback TCP port inside network namespaces that leads to a server on this process's
 * loopback (moto): a relay in each namespace carries every connection over a Unix socket, which
 * the file system shares between namespaces, to a relay here that connects to the server. The
 * port number is the server's own, so one endpoint URL works here and in every namespace. No
 * interface, address or route is added anywhere.
 */

/** Runs inside a namespace: 127.0.0.1:PORT to the Unix socket PATH, one pipe per connection. */
const IN_NAMESPACE = `
const net = require("node:net");
const [port, path] = process.argv.slice(1);
net
  .createServer((c) => {
    const u = net.connect(path);
    c.pipe(u).pipe(c);
    c.on("error", () => u.destroy());
    u.on("error", () => c.destroy());
  })
  .listen(Number(port), "127.0.0.1", () => console.log("ready"));
`;

function pipeBoth(a: Socket, b: Socket) {
  a.pipe(b).pipe(a);
  a.on("error", () => b.destroy());
  b.on("error", () => a.destroy());
}

export interface NetnsBridge {
  close(): Promise<void>;
}

/** Bridges 127.0.0.1:`port` of each namespace in `namespaces` to 127.0.0.1:`port` here. */
export async function bridgeIntoNetns(
  t: { teardown(fn: () => unknown): void },
  dir: string,
  port: number,
  namespaces: string[],
): Promise<NetnsBridge> {
  const path = join(dir, `tcp-${port}.sock`);
  const relay: Server = createServer((c) => pipeBoth(c, connect(port, "127.0.0.1")));
  await new Promise<void>((resolve) => relay.listen(path, resolve));
  const children: ChildProcess[] = [];
  const bridge: NetnsBridge = {
    async close() {
      for (const child of children) await stopChild(child);
      await new Promise((resolve) => relay.close(resolve));
      await rm(path, { force: true });
    },
  };
  t.teardown(() => bridge.close());
  for (const ns of namespaces) {
    const child = nsSpawn(ns, process.execPath, ["-e", IN_NAMESPACE, String(port), path], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`bridge in ${ns} exited (${code})`)));
      child.stdout?.once("data", () => resolve());
    });
  }
  return bridge;
}
