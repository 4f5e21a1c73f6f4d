import t from "tap";
import { type AwsMember, awsProbeStates, markPing } from "../../agent/src/carrier/aws.ts";
import { carrierName, judgeGroup } from "../../agent/src/carrier/decide.ts";
import { carrierGroups } from "../../agent/src/carrier/groups.ts";
import type { ResolvedTunnel } from "../../agent/src/config/types.ts";
import { parsePingLine } from "../../agent/src/health/pinger.ts";

/**
 * An aws-vpn entry's two tunnels (decision 0023): only the carrier's data path is probed, a
 * CHILD_SA whose ping fell while it carried is not wanted again, and the judgement of 0017
 * moves the traffic with one rekey.
 */

/** "NAME CHILD[@Ns]": CHILD "-" for none, else its unique id, installed N s ago (default 1000-id). */
function m(token: string): AwsMember & { priority: undefined } {
  const [name = "", child = ""] = token.split(" ");
  const x = /^(\d+)(?:@(\d+)s)?$/.exec(child);
  return {
    name,
    priority: undefined,
    sa: {
      ike: { uniqueId: "1", state: "ESTABLISHED", initiator: true },
      child: x
        ? {
            uniqueId: x[1] as string,
            state: "INSTALLED",
            installedS: x[2] === undefined ? 1000 - Number(x[1]) : Number(x[2]),
          }
        : null,
    },
  };
}

const states = (
  members: string[],
  ping: "up" | "down" | "unknown",
  failed: Record<string, string> = {},
) => {
  const ms = members.map(m);
  const carrier = carrierName(ms, "libipsec");
  const s = awsProbeStates(ms, carrier, ping, new Map(Object.entries(failed)));
  return `${carrier ?? "-"}: ${ms.map((x) => `${x.name}=${s.get(x.name)}`).join(" ")}`;
};

t.test("probe states: the carrier by its ping, the other by its CHILD_SA", async (t) => {
  const rows: [string, string[], "up" | "down" | "unknown", Record<string, string>, string][] = [
    ["both installed, t1 newest, ping up", ["t1 7", "t2 5"], "up", {}, "t1: t1=up t2=up"],
    [
      "ping not decided yet: the carrier is given the benefit",
      ["t1 7", "t2 5"],
      "unknown",
      {},
      "t1: t1=up t2=up",
    ],
    ["the carrier's ping fell", ["t1 7", "t2 5"], "down", {}, "t1: t1=down t2=up"],
    ["the other has no CHILD_SA", ["t1 7", "t2 -"], "up", {}, "t1: t1=up t2=down"],
    [
      "t1's CHILD_SA failed while carrying; t2 carries now",
      ["t1 7", "t2 9"],
      "up",
      { t1: "7" },
      "t2: t1=down t2=up",
    ],
    [
      "t1 came back with a new CHILD_SA: a candidate again",
      ["t1 11", "t2 9"],
      "up",
      { t1: "7" },
      "t1: t1=up t2=up",
    ],
    ["nothing installed", ["t1 -", "t2 -"], "unknown", {}, "-: t1=down t2=down"],
    [
      "t2 carries and falls, t1 failed before: t1 is tried again",
      ["t1 7", "t2 9"],
      "down",
      { t1: "7" },
      "t2: t1=up t2=down",
    ],
  ];
  for (const [name, members, ping, failed, want] of rows)
    t.equal(states(members, ping, failed), want, name);
});

t.test("marks: a fall marks the carrier's CHILD_SA, a rise clears it, gone SAs drop", async (t) => {
  const ms = ["t1 7", "t2 5"].map(m);
  const fell = markPing(new Map(), ms, "t1", "down");
  t.same([...fell], [["t1", "7"]]);
  t.same([...markPing(fell, ms, "t1", "up")], [], "it carries and answers again");
  t.same([...markPing(fell, ms, "t2", "unknown")], [["t1", "7"]], "another carrier leaves it");
  t.same(
    [...markPing(fell, ["t1 8", "t2 5"].map(m), "t2", "up")],
    [],
    "t1's CHILD_SA was replaced",
  );
  t.same([...markPing(new Map(), ms, null, "down")], [], "no carrier known: nothing to mark");
});

t.test("a black-holed tunnel 1: one rekey moves the traffic, and it stays moved", async (t) => {
  const judge = (
    members: string[],
    failed: Record<string, string>,
    ping: "up" | "down" | "unknown",
  ) => {
    const ms = members.map(m);
    const carrier = carrierName(ms, "libipsec");
    const s = awsProbeStates(ms, carrier, ping, new Map(Object.entries(failed)));
    const j = judgeGroup(
      ms.map((x) => ({
        ...x,
        probe: s.get(x.name) ?? "unknown",
        initiating: false,
        mayStart: true,
      })),
      "libipsec",
    );
    return `${j.carrier} ${j.wanted} ${j.action ? `${j.action.kind} ${j.action.tunnel}` : "-"}`;
  };
  t.equal(judge(["t1 7", "t2 5"], {}, "up"), "t1 t1 -", "steady on tunnel 1");
  t.equal(judge(["t1 7", "t2 5"], {}, "down"), "t1 t2 rekey t2", "its ping fell: rekey tunnel 2");
  // The rekey made t2's CHILD_SA 9, installed last; t1's 7 is marked.
  t.equal(judge(["t1 7", "t2 9"], { t1: "7" }, "unknown"), "t2 t2 -", "no way back to the hole");
  t.equal(judge(["t1 7", "t2 9"], { t1: "7" }, "up"), "t2 t2 -");
  t.equal(
    judge(["t1 11@0s", "t2 9@3s"], { t1: "7" }, "up"),
    "t1 t1 -",
    "tunnel 1 re-made (DPD restart): newest, preferred, and carries",
  );
  t.equal(
    judge(["t1 11@5s", "t2 9@3s"], {}, "up"),
    "t2 t1 rekey t1",
    "tunnel 2 rekeyed on its own after that: tunnel 1 is wanted back",
  );
});

t.test("groups: an aws-vpn entry's tunnels are a group of their own", async (t) => {
  const aws = (name: string, entry: string) =>
    ({
      name,
      localSubnets: ["0.0.0.0/0"],
      remoteSubnets: ["0.0.0.0/0"],
      aws: { entry },
    }) as ResolvedTunnel;
  const peer = {
    name: "p",
    localSubnets: ["0.0.0.0/0"],
    remoteSubnets: ["0.0.0.0/0"],
  } as ResolvedTunnel;
  t.same(
    carrierGroups([
      aws("a-t1", "a"),
      peer,
      aws("b-t1", "b"),
      aws("a-t2", "a"),
      aws("b-t2", "b"),
    ]).map((g) => g.map((x) => x.name)),
    [
      ["a-t1", "a-t2"],
      ["b-t1", "b-t2"],
    ],
  );
});

t.test("ping lines", async (t) => {
  t.same(parsePingLine("64 bytes from 169.254.11.1: icmp_seq=4 ttl=64 time=0.417 ms"), {
    seq: 4,
    rttMs: 0.417,
  });
  t.same(parsePingLine("no answer yet for icmp_seq=5"), { seq: 5, rttMs: null });
  t.same(parsePingLine("From 169.254.11.2 icmp_seq=6 Destination Host Unreachable"), {
    seq: 6,
    rttMs: null,
  });
  t.equal(parsePingLine("PING 169.254.11.1 (169.254.11.1) 56(84) bytes of data."), undefined);
  t.equal(parsePingLine("--- 169.254.11.1 ping statistics ---"), undefined);
});
