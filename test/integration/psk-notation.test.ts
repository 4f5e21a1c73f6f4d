import { randomBytes } from "node:crypto";
import t from "tap";
import { AgentLab, waitFor } from "../helpers/agent-lab.ts";

/**
 * A key copied from another strongSwan box in its own notation: the agent's PSK file and the
 * plain charon's swanctl.conf hold the same "0s" + base64 text of a binary key. charon on the
 * plain side decodes it; the tunnel comes up only if the agent sends the same decoded bytes.
 */
const key = randomBytes(32);
// Bytes no text key may hold: NUL, line break, quote, backslash, DEL, and not UTF-8.
Buffer.from([0x00, 0x0a, 0x22, 0x5c, 0x7f, 0xff, 0xfe]).copy(key, 5);
const notation = `0s${key.toString("base64")}`;

const lab = await AgentLab.create("swp-pskn", { subnets: 1, psk: `${notation}\n` });
t.teardown(() => lab.cleanup());
const plain = await lab.startPlainCharon("b", { secret: notation });
await lab.writeConfig("a", [{ name: "one", subnet: 0, probe: false }]);
lab.startAgent("a");

t.test("a binary 0s key brings the tunnel up with a charon given the same 0s text", async (t) => {
  await waitFor("tunnel one up", async () => (await lab.tunnelState("a", "one")) === "up");
  const sas = plain.swanctl("--list-sas");
  t.match(sas, /site-a: #\d+, ESTABLISHED/, "the plain side's IKE_SA is established");
  t.match(sas, /lan: #\d+, reqid \d+, INSTALLED/, "and its CHILD_SA installed");
  t.match(lab.swanctl("a", "--list-sas"), /one: #\d+, reqid \d+, INSTALLED/, "the agent's too");
  t.ok(lab.ping("a", 0), "ping through the tunnel");
  t.notOk((await lab.log("a")).includes(notation), "the agent's log does not hold the key");
});
