import { spawn } from "node:child_process";
import { mkdir, rm } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import t from "tap";
import { Ec2 } from "../../control-plane/src/ec2/client.ts";
import type { Fleet } from "../../control-plane/src/fleet/types.ts";
import { waitFor } from "../helpers/agent-lab.ts";
import { FaultProxy } from "../helpers/fault-proxy.ts";
import { type Tree, writeFleetFile } from "../helpers/fleet-file.ts";
import { seededFleet, seedFleet, startMoto } from "../helpers/moto.ts";
import {
  childEnv,
  type RunningController,
  SWANPAIR_BIN,
  startController,
} from "../helpers/swanpair-bin.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * `swanpair controller run` as a process, around its loop: a SIGHUP whose fleet file cannot
 * replace the running fleet leaves the process and that fleet running; a start whose status
 * listener cannot bind ends the process by itself, having called EC2 not once. The controller
 * reaches moto through the fault proxy, which counts every call.
 */

const moto = await startMoto(t);
const ec2 = new Ec2({ region: "eu-west-1", endpoint: moto.endpoint });
t.teardown(() => ec2.destroy());
const proxy = await FaultProxy.start(moto.endpoint);
t.teardown(() => proxy.close());

const seeded = await seedFleet(ec2.sdk, {
  tag: { key: "swanpair:fleet", value: "process-test" },
  vpcs: [
    { name: "east", cidrs: ["10.1.0.0/16"] },
    { name: "west", cidrs: ["10.2.0.0/16"] },
  ],
  connections: [["east", "west"]],
});
const FLEET: Fleet = {
  ...seededFleet(seeded, proxy.endpoint),
  failover: { intervalMs: 200, fall: 2, rise: 2, holdDownMs: 5000, preempt: false },
};
const REJECTED = "fleet reload rejected; the running fleet stays";

async function ticked(ctl: RunningController): Promise<void> {
  const start = (await ctl.status()).ticks;
  await waitFor("a tick", async () => ((await ctl.status()).ticks > start ? true : undefined));
}

t.test(
  "SIGHUP with a missing, unreadable, invalid or self-less fleet file: refused and logged, the process and its fleet stay",
  async (t) => {
    const dir = await tempDir(t, "swp-proc-");
    const path = await writeFleetFile(dir, FLEET);
    const ctl = await startController(t, ["--config", path, "--self", "east-a"]);
    await ticked(ctl);

    const refusedFor = async (why: RegExp) => {
      const before = ctl.log.filter((l) => l.msg === REJECTED).length;
      ctl.child.kill("SIGHUP");
      const refusal = await waitFor(`the refusal (${why})`, async () => {
        if (ctl.child.exitCode !== null) throw new Error(`the controller exited: ${why}`);
        return ctl.log.filter((l) => l.msg === REJECTED).at(before);
      });
      t.match(JSON.stringify(refusal.issues), why, `logged why: ${why}`);
      await ticked(ctl);
      t.match(await ctl.status(), { generation: 1, intervalMs: 200 }, "the running fleet stays");
    };

    await rm(path);
    await refusedFor(/cannot read .*fleet\.yaml: does not exist/);
    // Root reads any mode, so a directory in the file's place stands for an unreadable file.
    await mkdir(path);
    await refusedFor(/cannot read .*fleet\.yaml: not a regular file/);
    await rm(path, { recursive: true });
    await writeFleetFile(dir, FLEET, (tree) => {
      tree.pairs[0].members = ["east-a"];
    });
    await refusedFor(/pairs\[0\]\.members/);
    await writeFleetFile(dir, FLEET, (tree: Tree) => {
      // Valid, but east-a (this controller's --self) is renamed out of every pair.
      tree.appliances[0].name = "east-c";
      tree.pairs[0].members = ["east-c", "east-b"];
      tree.pairs[0].preferred = "east-c";
    });
    await refusedFor(/--self east-a: not a member of any pair/);

    await writeFleetFile(dir, FLEET, (tree) => {
      tree.failover.intervalMs = 300;
    });
    ctl.child.kill("SIGHUP");
    await waitFor("generation 2", async () =>
      (await ctl.status()).generation === 2 ? true : undefined,
    );
    t.match(await ctl.status(), { generation: 2, intervalMs: 300 });
    t.equal(await ctl.stop(), 0, "stops cleanly after it all");
  },
);

/** Runs the CLI to its own end; a process still running after `deadlineMs` is killed and fails. */
function runToEnd(args: string[], deadlineMs: number) {
  const child = spawn(process.execPath, [SWANPAIR_BIN, ...args], {
    env: childEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise<{ code: number | null; ended: boolean; stdout: string; stderr: string }>(
    (resolve) => {
      let killed = false;
      const timer = setTimeout(() => {
        killed = true;
        child.kill("SIGKILL");
      }, deadlineMs);
      // "close", not "exit": the last of stderr has arrived by then.
      child.once("close", (code) => {
        clearTimeout(timer);
        resolve({ code, ended: !killed, stdout, stderr });
      });
    },
  );
}

t.test(
  "a status port in use ends the start at once: exit 1, the address named, not one EC2 call",
  async (t) => {
    const dir = await tempDir(t, "swp-proc-");
    const path = await writeFleetFile(dir, FLEET);
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    t.teardown(() => new Promise((resolve) => holder.close(resolve)));
    const { port } = holder.address() as AddressInfo;
    proxy.reset();

    const human = await runToEnd(
      ["controller", "run", "--config", path, "--listen", `127.0.0.1:${port}`],
      15_000,
    );
    t.ok(human.ended, "the process ended by itself: no timer was left running", human);
    t.equal(human.code, 1);
    t.match(
      human.stderr,
      `swanpair: status endpoint: cannot listen on 127.0.0.1:${port}: the address is in use (EADDRINUSE)`,
    );
    t.match(human.stderr, /\(SWP_ERR_FAILED\)$/m);
    t.notMatch(human.stderr, /controller started/);

    const json = await runToEnd(
      ["controller", "run", "--config", path, "--listen", `127.0.0.1:${port}`, "--json"],
      15_000,
    );
    t.match(
      { ended: json.ended, code: json.code, out: JSON.parse(json.stdout) },
      {
        ended: true,
        code: 1,
        out: { error: { code: "SWP_ERR_FAILED", message: `cannot listen on 127.0.0.1:${port}` } },
      },
    );
    t.equal(proxy.count(), 0, "no EC2 call at all: the loop never ticked, so it wrote nothing");
  },
);
