import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";

/**
 * Which process metrics a registry carries: prom-client's defaults (`all`: event-loop lag,
 * GC durations, heap spaces, handles...), or a few computed when scraped (`lean`: CPU,
 * resident memory, heap, start time). `lean` is the agent's: the defaults' event-loop monitor
 * wakes it every 10 ms and their collectors cost an idle agent 1 MB (decision 0008).
 */
export type ProcessMetrics = "all" | "lean";

/**
 * A registry of one program's metrics (never the global one, so tests and a second instance in
 * one process do not share series), with process metrics under `prefix`, and short
 * constructors bound to it.
 */
export function metricsRegistry(prefix: string, processMetrics: ProcessMetrics = "all") {
  const registry = new Registry();
  if (processMetrics === "all") collectDefaultMetrics({ register: registry, prefix });
  else leanProcessMetrics(registry, prefix);
  const registers = [registry];
  return {
    registry,
    counter: <L extends string = never>(
      name: string,
      help: string,
      labelNames: readonly L[] = [],
    ) => new Counter<L>({ name, help, labelNames, registers }),
    gauge: <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
      new Gauge<L>({ name, help, labelNames, registers }),
  };
}

/** prom-client's names for the same values, so a dashboard for either works with both. */
function leanProcessMetrics(registry: Registry, prefix: string) {
  const registers = [registry];
  const seconds = (micros: number) => micros / 1e6;
  const cpu = (name: string, help: string, read: (u: NodeJS.CpuUsage) => number) =>
    new Counter({
      name: `${prefix}${name}`,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(seconds(read(process.cpuUsage())));
      },
    });
  cpu("process_cpu_user_seconds_total", "Total user CPU time spent in seconds.", (u) => u.user);
  cpu(
    "process_cpu_system_seconds_total",
    "Total system CPU time spent in seconds.",
    (u) => u.system,
  );
  cpu(
    "process_cpu_seconds_total",
    "Total user and system CPU time spent in seconds.",
    (u) => u.user + u.system,
  );
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name: `${prefix}${name}`,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });
  const started = Math.round(Date.now() / 1000 - process.uptime());
  gauge(
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds.",
    () => started,
  );
  gauge("process_resident_memory_bytes", "Resident memory size in bytes.", () =>
    process.memoryUsage.rss(),
  );
  gauge(
    "nodejs_heap_size_total_bytes",
    "Process heap size from Node.js in bytes.",
    () => process.memoryUsage().heapTotal,
  );
  gauge(
    "nodejs_heap_size_used_bytes",
    "Process heap size used from Node.js in bytes.",
    () => process.memoryUsage().heapUsed,
  );
  gauge(
    "nodejs_external_memory_bytes",
    "Node.js external memory size in bytes.",
    () => process.memoryUsage().external,
  );
}
