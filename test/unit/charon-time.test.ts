import t from "tap";
import { parseCharonTime } from "../../agent/src/vici/commands.ts";

// charon's %T: "%b %d %H:%M:%S %Y" in local time (stats' uptime.since).
t.equal(parseCharonTime("Dec 02 15:04:05 2026"), new Date(2026, 11, 2, 15, 4, 5).getTime());
t.equal(parseCharonTime("Jan 31 00:00:00 2027\n"), new Date(2027, 0, 31).getTime());
t.equal(parseCharonTime("Feb  3 09:08:07 2026"), new Date(2026, 1, 3, 9, 8, 7).getTime());
for (const bad of [
  "",
  "Foo 02 15:04:05 2026",
  "Dec 02 2026",
  "2026-12-02T15:04:05Z",
  "dec 02 15:04:05 2026",
])
  t.equal(parseCharonTime(bad), undefined, `"${bad}" is not charon's time`);
