import t from "tap";
import { type EventSource, EventWatch } from "../../agent/src/charon/event-watch.ts";
import { AsyncQueue } from "../../agent/src/vici/async-queue.ts";
import { SwpError } from "../../common/errors.ts";
import { captureLogger } from "../helpers/api-fakes.ts";

/** A subscription the test feeds: events, then an end, or an error such as an overflow. */
class FakeSubscription implements EventSource {
  readonly queue = new AsyncQueue<unknown>();
  closed = false;
  close() {
    this.closed = true;
    this.queue.discard();
  }
  [Symbol.asyncIterator]() {
    return { next: () => this.queue.next() };
  }
}

const OVERFLOW = new SwpError(
  "SWP_ERR_VICI_CLOSED",
  "VICI subscription dropped: more than 1024 events",
  {
    reason: "overflow",
  },
);
const tick = () => new Promise((resolve) => setTimeout(resolve, 5));
const FAST = { initialMs: 1, maxMs: 4, resetAfterMs: 60_000 };

function watch(subscribe: () => Promise<EventSource>) {
  const counts = { events: 0, resubscribed: 0 };
  const { logger, lines } = captureLogger();
  const w = new EventWatch({
    subscribe,
    onEvent: () => counts.events++,
    onResubscribed: () => counts.resubscribed++,
    logger,
    backoff: FAST,
  });
  return { w, counts, lines };
}

t.test("after an overflow and after charon closes it, the watch subscribes again", async (t) => {
  const subs: FakeSubscription[] = [];
  const { w, counts, lines } = watch(async () => {
    const s = new FakeSubscription();
    subs.push(s);
    return s;
  });
  t.teardown(() => w.stop());
  await tick();
  t.equal(subs.length, 1, "subscribed");
  subs[0]?.queue.push("ike-updown");
  subs[0]?.queue.push("child-updown");
  subs[0]?.queue.finish(OVERFLOW);
  await tick();
  t.equal(counts.events, 2, "the events before the overflow are delivered");
  t.equal(subs.length, 2, "subscribed again");
  t.ok(subs[0]?.closed, "the overflowed subscription is closed");
  t.equal(counts.resubscribed, 1, "the SAs are re-read: events were lost");
  t.match(lines.at(-1), { msg: "subscribed to charon's events again", reason: /more than 1024/ });

  subs[1]?.queue.push("child-rekey");
  subs[1]?.queue.finish();
  await tick();
  t.equal(counts.events, 3);
  t.equal(subs.length, 3, "and again after charon closed the event connection");
  t.equal(counts.resubscribed, 2);
  t.match(lines.at(-1), { reason: "charon closed the event connection" });

  w.stop();
  await tick();
  t.ok(subs[2]?.closed, "stop closes the subscription");
  t.equal(subs.length, 3, "and makes no other");
});

t.test("a refused subscribe is retried with backoff until it works", async (t) => {
  let attempts = 0;
  const ok = new FakeSubscription();
  const { w, counts, lines } = watch(async () => {
    attempts++;
    if (attempts <= 3) throw new SwpError("SWP_ERR_VICI_CLOSED", "cannot connect");
    return ok;
  });
  t.teardown(() => w.stop());
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(attempts, 4);
  t.equal(lines.filter((l) => l.msg === "cannot subscribe to charon's events").length, 3);
  t.equal(counts.resubscribed, 1, "events of the gap are made up for");
  ok.queue.push("ike-updown");
  await tick();
  t.equal(counts.events, 1);
});

t.test("stopped while subscribing: the new subscription is closed at once", async (t) => {
  let release: (s: EventSource) => void = () => {};
  const late = new FakeSubscription();
  const { w, counts } = watch(() => new Promise((resolve) => (release = resolve)));
  w.stop();
  release(late);
  await tick();
  t.ok(late.closed, "closed at once");
  t.equal(counts.resubscribed, 0);
});
