import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";

/**
 * A registry of one program's metrics (never the global one, so tests and a second instance in
 * one process do not share series), with the process defaults under `prefix`, and short
 * constructors bound to it.
 */
export function metricsRegistry(prefix: string) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix });
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
