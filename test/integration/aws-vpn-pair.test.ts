import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { EC2Client } from "@aws-sdk/client-ec2";
import t, { type Test } from "tap";
import {
  analyzeFlow,
  firstThroughAfter,
  lostAfter,
} from "../../control-plane/src/lab/traffic/analyze.ts";
import { flows, readStreamRecords } from "../../control-plane/src/lab/traffic/records.ts";
import { waitFor } from "../helpers/agent-lab.ts";
import {
  CONNECTION,
  FAR,
  HOST,
  type PairRouting,
  startAwsVpnPairLab,
} from "../helpers/aws-vpn-pair-lab.ts";
import { writeFleetFile } from "../helpers/fleet-file.ts";
import { startMoto } from "../helpers/moto.ts";
import { endpoint } from "../helpers/stream-endpoint.ts";
import { startController } from "../helpers/swanpair-bin.ts";
import { tempDir } from "../helpers/temp-dir.ts";

/**
 * Issue 11's pair: two swanpair appliances in front of an AWS managed VPN, each the customer
 * gateway of its own VPN connection (static routing), the controller moving the VPC's route in
 * moto, and AWS's side (the two-connection VGW simulator) following whichever connection has
 * its tunnels up. The active member dies as an instance does: traffic out of the VPC comes
 * back once the controller has moved the route; traffic into it once AWS's DPD timeout has
 * cleared the dead member's connection. Both directions are measured with UDP streams.
 */

const wallMs = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
const s = (ms: number | null | undefined) => (ms == null ? "-" : `${(ms / 1000).toFixed(2)} s`);

const moto = await startMoto(t);
const ec2 = new EC2Client({ region: "eu-west-1", endpoint: moto.endpoint });
t.teardown(() => ec2.destroy());

/**
 * `aws` bounds how long AWS's side keeps sending into the dead member's connection: its DPD
 * timeout (static) or the BGP hold time; it must wait at least `atLeastMs` for it.
 */
async function activeKilled(
  t: Test,
  routing: PairRouting,
  aws: { what: string; atLeastMs: number; withinMs: number },
) {
  const lab = await startAwsVpnPairLab(ec2, moto.endpoint, routing);
  t.teardown(async () => {
    if (!t.passing())
      for (const m of ["a1", "a2"] as const)
        t.comment(`${m}'s log:\n${(await lab.agentLog(m)).slice(-4000)}`);
    await lab.stop();
  });
  const dir = await tempDir(t, "swp-avp-");
  // a1 first, so that AWS's side takes a1's connection and must move off it.
  lab.startAgent("a1");
  await waitFor("AWS's side on a1's connection", () => lab.vgw.using() === 1, 30_000);
  lab.startAgent("a2");
  await waitFor("both connections up", () => lab.vgw.up().every(Boolean), 30_000);

  const fleetFile = await writeFleetFile(dir, lab.fleet);
  const ctl = await startController(t, ["--config", fleetFile]);
  const side = async () => (await ctl.status()).sides[0];
  await waitFor(
    "both members healthy, the route on a1",
    async () =>
      lab.routedTo() === "a1" &&
      (await side())?.members.every((m: { status: string }) => m.status === "healthy"),
    30_000,
  );

  const args = (self: string, peer: string, name: string) => [
    ...["--bind", self, "--peer", peer, "--rate", "50", "--name", name],
    ...["--out", join(dir, `${name}.jsonl`)],
  ];
  const ends = [
    endpoint(t, lab.ns.host, args(HOST, FAR.host, "host")),
    endpoint(t, lab.ns.far, args(FAR.host, HOST, "far")),
  ];
  await Promise.all(ends.map((e) => e.started));
  await sleep(1500);

  const fault = wallMs();
  await lab.kill("a1");
  await waitFor("the VPC's route on a2", () => lab.routedTo() === "a2", 20_000);
  await waitFor("AWS's side on a2's connection", () => lab.vgw.using() === 2, 90_000);
  await sleep(3000);
  await Promise.all(ends.map((e) => e.stop()));

  const host = await readStreamRecords(join(dir, "host.jsonl"));
  const far = await readStreamRecords(join(dir, "far.jsonl"));
  const routeMove = lab.routeMoves().find((m) => m.to === "a2")?.at ?? Number.NaN;
  const awsMove = lab.vgw.moves().find((m) => m.to === 2)?.at ?? Number.NaN;
  const gaps: Record<string, number | null> = {};
  for (const [direction, [flow], restored] of [
    ["out of the VPC", flows(host, far), routeMove],
    ["into the VPC", flows(far, host), awsMove],
  ] as const) {
    if (!flow) {
      t.fail(`${direction}: no stream`);
      continue;
    }
    const r = analyzeFlow(flow);
    const through = firstThroughAfter(flow, restored);
    const longest = Math.max(0, ...r.outages.map((o) => o.durationMs ?? Number.POSITIVE_INFINITY));
    gaps[direction] = longest;
    t.comment(
      `${direction}: longest outage ${s(longest)} (${r.outages.length} outages, ${r.lost} lost of ${r.sent}); first through ${s((through?.recvMs ?? Number.NaN) - fault)} after the kill; restored by ${s(restored - fault)}`,
    );
    t.ok(through, `${direction}: traffic flows again`);
    t.same(lostAfter(flow, through?.sentMs ?? fault), [], `${direction}: nothing lost after`);
  }
  t.comment(
    `route moved ${s(routeMove - fault)} after the kill, AWS's side ${s(awsMove - fault)} after it`,
  );
  const events = ctl.log
    .filter(
      (l) =>
        Date.parse(String(l.time)) >= fault - 100 &&
        /health|failover|route|fence/i.test(String(l.msg)),
    )
    .map(
      (l) =>
        `${s(Date.parse(String(l.time)) - fault)} ${l.msg} ${JSON.stringify(l.member ?? l.to ?? "")} ${JSON.stringify(l.signals ?? "")}`,
    );
  t.comment(`controller after the kill:\n${events.join("\n")}`);
  t.ok((gaps["out of the VPC"] ?? Number.POSITIVE_INFINITY) < 5000, "out: back within 5 s");
  t.ok(
    (gaps["into the VPC"] ?? Number.POSITIVE_INFINITY) < aws.withinMs,
    `in: back once ${aws.what} let AWS's side leave a1's connection`,
  );
  t.ok(awsMove - fault >= aws.atLeastMs, `AWS's side waited for ${aws.what}, not the controller`);

  const after = await side();
  t.match(after, {
    connection: CONNECTION,
    active: "a2",
    lastFailover: { from: "a1", to: "a2", reason: "active-dead" },
  });
  t.equal(
    lab.routeMoves().filter((m) => m.to !== null).length,
    2,
    "the route was set once (a1) and moved once (a2): no flap",
  );
}

t.test("static: the active member killed, the pair fails over, traffic returns both ways", (t) =>
  activeKilled(
    t,
    { routing: "static" },
    {
      what: "AWS's DPD timeout (30 s)",
      atLeastMs: 20_000,
      withinMs: 60_000,
    },
  ),
);

t.test("BGP: the same, AWS's side follows when the hold time (9 s) runs out", (t) =>
  activeKilled(
    t,
    { routing: "bgp", holdTimeS: 9 },
    {
      what: "the BGP hold time (9 s)",
      atLeastMs: 6000,
      withinMs: 20_000,
    },
  ),
);
