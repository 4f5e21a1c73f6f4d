import { createSocket } from "node:dgram";
import { once } from "node:events";
import t from "tap";
import type { ResolvedPath, ResolvedTunnel } from "../../agent/src/config/types.ts";
import { ProbeResponder } from "../../agent/src/health/probe-responder.ts";
import { ProbeSet } from "../../agent/src/health/probe-set.ts";
import { createLogger } from "../../common/logger.ts";
import { Secret } from "../../common/secret.ts";
import { waitFor } from "../helpers/agent-lab.ts";

/** ProbeSet with paths, on loopback with real sockets: names, sources and responders. */
const log = createLogger({ name: "path-probe-set-test", level: "silent" });
const timing = { intervalMs: 50, timeoutMs: 40, fall: 2, rise: 2 };

async function responder(address: string) {
  const r = new ProbeResponder({ address, port: 0, log });
  r.start();
  t.teardown(() => r.stop());
  return (await waitFor(`responder on ${address}`, () => r.address(), 2000, 5)).port;
}

function tunnel(name: string, probe: ResolvedTunnel["probe"]): ResolvedTunnel {
  return {
    name,
    type: "peer",
    remoteAddress: "198.51.100.20",
    localId: "a",
    remoteId: "b",
    psk: new Secret("0123456789abcdef"),
    localSubnets: ["127.0.84.0/24"],
    remoteSubnets: ["127.0.85.0/24"],
    ...(probe && { probe }),
    ikeProposals: [],
    espProposals: [],
    startAction: "none",
    dpdDelayS: 10,
  };
}

t.test("a path and a tunnel of the same name are probed apart", async (t) => {
  const port = await responder("127.0.84.2");
  const set = new ProbeSet(log);
  t.teardown(() => set.stop());
  let changes = 0;
  set.onChange(() => changes++);
  // The tunnel's probe target answers nothing; the path's target does, and has no source.
  const path: ResolvedPath = { name: "ab", method: "udp", target: "127.0.84.2", port, ...timing };
  const probe = { source: "127.0.84.1", target: "127.0.85.9", port, ...timing };
  await set.update([tunnel("ab", probe)], [path]);

  await waitFor("path up, tunnel probe down", () => {
    const ok = set.pathSnapshot("ab").state === "up" && set.snapshot("ab").state === "down";
    return ok || undefined;
  });
  t.ok(changes >= 2, "both changes were reported");
  t.equal(set.pathSnapshot("ab").loss, 0, "the path's window is its own");

  await set.update([tunnel("ab", probe)], []);
  t.same(
    set.pathSnapshot("ab"),
    { state: "unknown", rttMs: null, loss: 0, sent: 0, received: 0 },
    "a removed path reads as unknown and empty",
  );
  t.equal(set.snapshot("ab").state, "down", "the tunnel's probe runs on");
});

t.test(
  "a path opens no responder at its source, and a source it cannot bind is down",
  async (t) => {
    const port = await responder("127.0.84.4");
    const set = new ProbeSet(log);
    t.teardown(() => set.stop());
    const path: ResolvedPath = {
      name: "p",
      method: "udp",
      source: "127.0.84.3",
      target: "127.0.84.4",
      port,
      ...timing,
    };
    await set.update([], [path]);
    await waitFor("path up", () => set.pathSnapshot("p").state === "up" || undefined);

    // A tunnel probe's source would hold this port with a responder; a path's must not.
    const socket = createSocket("udp4");
    t.teardown(() => socket.close());
    socket.bind(port, "127.0.84.3");
    await once(socket, "listening");
    t.pass("the path's source address and port are free");

    // A source the machine does not have: every bind fails, and the path goes down.
    await set.update([], [{ ...path, source: "192.0.2.1" }]);
    await waitFor("path down", () => set.pathSnapshot("p").state === "down" || undefined);
    t.equal(set.pathSnapshot("p").received, 0);
  },
);
