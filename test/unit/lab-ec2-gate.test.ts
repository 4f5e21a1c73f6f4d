import t from "tap";
import { actionOf, TokenBucket } from "../../control-plane/src/lab/ec2-gate.ts";

/** The throttle's bucket: a burst of `rate`, then `rate` a second. */

t.test("a full bucket gives its rate at once, then refills at that rate", async (t) => {
  const b = new TokenBucket(2, 0);
  t.same([b.take(0), b.take(0), b.take(0)], [true, true, false]);
  t.equal(b.take(400), false, "0.8 of a token after 400 ms");
  t.equal(b.take(500), true, "one token after 500 ms");
  t.equal(b.take(500), false);
});

t.test("an idle bucket holds no more than its rate", async (t) => {
  const b = new TokenBucket(2, 0);
  b.take(0);
  b.take(0);
  t.same([b.take(60_000), b.take(60_000), b.take(60_000)], [true, true, false]);
});

t.test("the throttled action is read from the query API's form body", async (t) => {
  t.equal(actionOf("Action=ReplaceRoute&Version=2016-11-15&RouteTableId=rtb-1"), "ReplaceRoute");
  t.equal(actionOf(""), "unknown");
});
