import { access, link, lstat, readdir, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import t from "tap";
import { startApiServer } from "../../agent/src/api/server.ts";
import { ApiClient } from "../../common/agent-api/client.ts";
import { SwpError } from "../../common/errors.ts";
import { captureLogger, control, rejectsCode, STATUS, tempDir } from "../helpers/api-fakes.ts";

t.test("socket is created private, in a private new directory", async (t) => {
  const dir = await tempDir(t);
  const socketPath = join(dir, "run", "agent.sock");
  const server = await startApiServer({
    socketPath,
    control: control(),
    logger: captureLogger().logger,
  });
  t.teardown(() => server.close());

  const sock = await stat(socketPath);
  t.ok(sock.isSocket());
  t.equal(sock.mode & 0o777, 0o600, "socket mode 0600");
  t.equal(sock.uid, 0, "owned by root");
  t.equal((await stat(join(dir, "run"))).mode & 0o777, 0o700, "parent created 0700");
  t.same(await readdir(join(dir, "run")), ["agent.sock"], "no temporary bind directory left");
});

t.test("ApiClient round-trips every call", async (t) => {
  const dir = await tempDir(t);
  const socketPath = join(dir, "agent.sock");
  const ctl = control();
  const { logger, lines } = captureLogger();
  const server = await startApiServer({ socketPath, control: ctl, logger });
  t.teardown(() => server.close());
  const client = new ApiClient({ socketPath }, { timeoutMs: 5000 });

  t.same(await client.status(), STATUS);
  t.same(await client.tunnels(), STATUS.tunnels);
  t.same(await client.reload(), ctl.nextReload);
  t.equal(await client.metrics(), "swanpair_charon_up 1\n");
  await client.initiate("to-dc1");
  await client.terminate("to-dc1");
  t.same(ctl.calls, ["reload", "initiate to-dc1", "terminate to-dc1"]);

  const issues = [{ path: "tunnels.0.remote", rule: "cidr", message: "invalid CIDR" }];
  ctl.nextReload = { ok: false, generation: 2, loaded: [], unloaded: [], unchanged: [], issues };
  const rejected = await client.reload();
  t.equal(rejected.ok, false, "a rejected reload is returned, not thrown");
  t.same(rejected.issues, issues);

  ctl.nextReload = {
    ok: false,
    generation: 2,
    loaded: [],
    unloaded: [],
    unchanged: [],
    error: "load-conn failed",
  };
  await rejectsCode(t, client.reload(), "SWP_ERR_API_REQUEST", /load-conn failed/);

  const unknown = await client.initiate("nope").catch((e: unknown) => e);
  t.ok(unknown instanceof SwpError);
  if (unknown instanceof SwpError) {
    t.equal(unknown.code, "SWP_ERR_API_REQUEST");
    t.match(unknown.details, { status: 404, code: "SWP_ERR_TUNNEL_UNKNOWN" });
    t.match(unknown.message, /no tunnel named nope/);
  }
  await rejectsCode(t, client.terminate("../status"), "SWP_ERR_API_REQUEST", /invalid tunnel name/);

  const logged = lines.filter((l) => l.msg === "api request");
  t.match(logged[0], {
    level: 20,
    method: "GET",
    url: "/v1/status",
    status: 200,
    durationMs: Number,
  });
  t.ok(logged.some((l) => l.status === 422));
  t.ok(lines.some((l) => l.msg === "api request failed" && l.status === 500));
});

t.test("a stale socket from a crashed agent is replaced", async (t) => {
  const dir = await tempDir(t);
  const socketPath = join(dir, "agent.sock");
  // Leave a socket inode behind with no listener: hard-link it, then close (which unlinks the original).
  const old = createServer();
  await new Promise<void>((resolve) => old.listen(join(dir, "old.sock"), resolve));
  await link(join(dir, "old.sock"), socketPath);
  await new Promise((resolve) => old.close(resolve));
  t.ok((await lstat(socketPath)).isSocket(), "stale socket is in place");

  await rejectsCode(
    t,
    new ApiClient({ socketPath }).status(),
    "SWP_ERR_API_UNREACHABLE",
    /not running/,
  );

  const server = await startApiServer({
    socketPath,
    control: control(),
    logger: captureLogger().logger,
  });
  t.teardown(() => server.close());
  t.same(await new ApiClient({ socketPath }).tunnels(), STATUS.tunnels);
});

t.test("a second agent on a live socket refuses to start and leaves the first alone", async (t) => {
  const dir = await tempDir(t);
  const socketPath = join(dir, "agent.sock");
  const first = await startApiServer({
    socketPath,
    control: control(),
    logger: captureLogger().logger,
  });
  t.teardown(() => first.close());
  await t.rejects(
    startApiServer({ socketPath, control: control(), logger: captureLogger().logger }),
    /^cannot serve the API on api\.socket .*agent\.sock: another swanpair-agent is already serving it/,
  );
  t.same(await new ApiClient({ socketPath }).status(), STATUS, "first agent still answers");
  t.same(await readdir(dir), ["agent.sock"]);
});

t.test("a non-socket file at the path is never removed", async (t) => {
  const dir = await tempDir(t);
  const socketPath = join(dir, "agent.sock");
  await writeFile(socketPath, "not a socket");
  await t.rejects(
    startApiServer({ socketPath, control: control(), logger: captureLogger().logger }),
    /^cannot serve the API on api\.socket .*agent\.sock: the path exists and is not a socket/,
  );
  t.ok((await lstat(socketPath)).isFile());
});

t.test("client errors when nothing listens", async (t) => {
  const dir = await tempDir(t);
  const socketPath = join(dir, "missing.sock");
  await rejectsCode(
    t,
    new ApiClient({ socketPath }).status(),
    "SWP_ERR_API_UNREACHABLE",
    /missing\.sock.*is swanpair-agent running/,
  );
});

t.test("close removes the socket file", async (t) => {
  const dir = await tempDir(t);
  const socketPath = join(dir, "agent.sock");
  const server = await startApiServer({
    socketPath,
    control: control(),
    logger: captureLogger().logger,
  });
  await new ApiClient({ socketPath }).status();
  await server.close();
  await t.rejects(access(socketPath), { code: "ENOENT" });
  await rejectsCode(
    t,
    new ApiClient({ socketPath }).status(),
    "SWP_ERR_API_UNREACHABLE",
    /agent\.sock/,
  );
});

t.test("a hung agent times out as unreachable", async (t) => {
  const dir = await tempDir(t);
  const socketPath = join(dir, "agent.sock");
  const ctl = control();
  ctl.metrics = () => new Promise(() => {});
  const server = await startApiServer({ socketPath, control: ctl, logger: captureLogger().logger });
  t.teardown(() => server.close());
  await rejectsCode(
    t,
    new ApiClient({ socketPath }, { timeoutMs: 200 }).metrics(),
    "SWP_ERR_API_UNREACHABLE",
    /no answer .* within 200ms/,
  );
});
