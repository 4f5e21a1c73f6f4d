import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type {
  AgentStatus,
  PathStatus,
  ReloadResult,
  TunnelStatus,
} from "../../common/agent-api/status.ts";
import { writeFileAtomic } from "../../common/atomic-write.ts";
import { SwpError } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import type { AgentControl } from "./api/control.ts";
import { type ApiServer, startApiServer } from "./api/server.ts";
import { Reconciler } from "./apply/reconciler.ts";
import { CharonLink } from "./charon/link.ts";
import { CharonSupervisor } from "./charon/supervisor.ts";
import { coalesce } from "./coalesce.ts";
import { loadConfigFile } from "./config/load.ts";
import type { ResolvedConfig, ResolvedPath } from "./config/types.ts";
import { ProbeSet } from "./health/probe-set.ts";
import type { SaObservation } from "./health/sa-state.ts";
import { CHILD_CARRYING, deriveTunnelState, IKE_ALIVE } from "./health/tunnel-state.ts";
import { createMetrics, reloadOutcome } from "./metrics.ts";
import { type Rendered, renderAll } from "./render/index.ts";
import { charonLogPath } from "./render/strongswan-conf.ts";

export interface DaemonOptions {
  configPath: string;
  logger: Logger;
  /** How often desired state is re-asserted and SAs are re-read, whatever events said. */
  resyncMs?: number;
}

/** Settings that shape charon's own process; changing them needs an agent restart. */
function processShape(c: ResolvedConfig) {
  return JSON.stringify([c.appliance, c.datapath, c.charon, c.stateDir, c.api]);
}

/**
 * The agent: wires config, rendering, charon, health and the API together. Everything it
 * does to charon is level-triggered: on start, on every (re)connect to charon, on reload, and
 * on a timer, it compares desired with loaded state and sends the difference.
 */
export class AgentDaemon implements AgentControl {
  readonly #opts: DaemonOptions;
  readonly #log: Logger;
  readonly #metrics = createMetrics();
  readonly #reconciler: Reconciler;
  readonly #probes: ProbeSet;
  #config!: ResolvedConfig;
  /** The desired state rendered from #config, once per config generation. */
  #rendered!: Rendered;
  #generation = 0;
  #loadedAt: string | null = null;
  #lastError: string | null = null;
  #supervisor: CharonSupervisor | undefined;
  #link!: CharonLink;
  #api: ApiServer | undefined;
  #timer: NodeJS.Timeout | undefined;
  #sas = new Map<string, SaObservation>();
  #since = new Map<string, { state: string; at: string }>();
  /** Apart from #since: a path may share its name with a tunnel. */
  #pathSince = new Map<string, { state: string; at: string }>();
  /** Serialises applies: a reload never interleaves with a resync. */
  #queue: Promise<unknown> = Promise.resolve();
  /** charon sends events in bursts (ike-updown, child-updown, rekeys): one re-read answers many. */
  readonly #refreshOnEvent = coalesce(() =>
    this.#enqueue(() => this.#refreshSas()).catch((error: Error) =>
      this.#log.debug({ err: error }, "re-reading the SAs after an event failed"),
    ),
  );

  constructor(opts: DaemonOptions) {
    this.#opts = opts;
    this.#log = opts.logger;
    this.#reconciler = new Reconciler(opts.logger.child({ component: "apply" }));
    this.#probes = new ProbeSet(opts.logger.child({ component: "probe" }));
  }

  /**
   * Binds the API before anything else starts (probes, charon, timers), so an agent that
   * cannot serve has done nothing; if a later step fails, what started is stopped again.
   * @param config the validated config read from opts.configPath
   */
  async start(config: ResolvedConfig): Promise<void> {
    this.#link = new CharonLink({
      viciPath: config.charon.vici,
      connectTimeoutMs: config.charon.startTimeoutMs,
      logger: this.#log.child({ component: "vici" }),
      onReady: () => this.#enqueue(() => this.#resync(true)),
      onEvent: () => void this.#refreshOnEvent(),
      onLost: () => {
        this.#sas.clear();
        this.#reconciler.reset();
      },
    });
    this.#adopt(config, renderAll(config, { redactSecrets: false }));
    await mkdir(config.stateDir, { recursive: true, mode: 0o700 });
    const strongswanConf = join(config.stateDir, "strongswan.conf");
    await writeFileAtomic(strongswanConf, this.#rendered.strongswanConf, 0o644);
    this.#api = await startApiServer({
      socketPath: config.api.socket,
      listen: config.api.listen,
      control: this,
      logger: this.#log.child({ component: "api" }),
    });
    try {
      this.#probes.onChange(() => this.#trackStates());
      await this.#enact();
      if (config.charon.mode === "child") {
        this.#supervisor = new CharonSupervisor({
          binary: config.charon.binary,
          strongswanConf,
          pidFile: join(config.stateDir, "charon.pid"),
          logFile: charonLogPath(config),
          logger: this.#log.child({ component: "charon" }),
        });
        this.#supervisor.onStart(() => this.#link.connect());
        this.#supervisor.onExit(() => this.#link.lost());
        await this.#supervisor.start();
      } else {
        this.#link.connect();
      }
      const resyncMs = this.#opts.resyncMs ?? 5000;
      this.#timer = setInterval(() => this.#enqueue(() => this.#resync(false)), resyncMs);
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.#log.info(
      {
        appliance: config.appliance.name,
        tunnels: config.tunnels.length,
        paths: config.paths.length,
        mode: config.charon.mode,
      },
      "agent started",
    );
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#api?.close();
    await this.#probes.stop();
    await this.#queue.catch(() => {});
    this.#link?.close();
    await this.#supervisor?.stop();
    this.#log.info("agent stopped");
  }

  status(): AgentStatus {
    // "initiating" expires with time alone, so states are brought up to date here too.
    this.#trackStates();
    const c = this.#config;
    return {
      appliance: c.appliance.name,
      datapath: c.datapath,
      charon: {
        mode: c.charon.mode,
        state: this.#charonState(),
        pid: this.#supervisor?.pid ?? null,
        restarts: this.#supervisor?.restarts ?? 0,
        version: this.#link.version,
        lastExit: this.#supervisor?.lastExit ?? null,
      },
      config: {
        path: this.#opts.configPath,
        generation: this.#generation,
        loadedAt: this.#loadedAt,
        lastError: this.#lastError,
      },
      tunnels: c.tunnels.map((t) => this.#tunnelStatus(t.name, t.remoteAddress)),
      paths: c.paths.map((p) => this.#pathStatus(p)),
    };
  }

  async metrics(): Promise<string> {
    this.#metrics.update(this.status());
    return this.#metrics.registry.metrics();
  }

  reload(): Promise<ReloadResult> {
    return this.#enqueue(async () => {
      const result = await this.#reload().catch(
        (error: Error): ReloadResult => ({ ...this.#emptyResult(false), error: error.message }),
      );
      this.#metrics.reloads.inc({ result: reloadOutcome(result) });
      this.#lastError = result.ok ? null : (result.error ?? "configuration rejected");
      return result;
    });
  }

  /** Idempotent: a tunnel whose CHILD_SA already carries traffic is left as it is. */
  async initiate(tunnel: string): Promise<void> {
    this.#requireTunnel(tunnel);
    await this.#refreshSas();
    const child = this.#sas.get(tunnel)?.child;
    if (child && CHILD_CARRYING.has(child.state)) return;
    await this.#link.port().initiate(tunnel);
  }

  async terminate(tunnel: string): Promise<void> {
    this.#requireTunnel(tunnel);
    await this.#link.port().terminate(tunnel);
  }

  async #reload(): Promise<ReloadResult> {
    const loaded = await loadConfigFile(this.#opts.configPath);
    if (!loaded.ok) {
      this.#log.warn({ issues: loaded.issues }, "reload rejected: the new config is invalid");
      return { ...this.#emptyResult(false), issues: loaded.issues, error: "configuration invalid" };
    }
    if (processShape(loaded.config) !== processShape(this.#config)) {
      const error =
        "appliance, datapath, charon, stateDir and api changes need an agent restart; nothing was applied";
      this.#log.warn(error);
      return { ...this.#emptyResult(false), error };
    }
    const rendered = renderAll(loaded.config, { redactSecrets: false });
    const { plan } = await this.#reconciler.apply(this.#link.port(), rendered, { precheck: false });
    this.#adopt(loaded.config, rendered);
    await this.#enact();
    this.#noteStarted(plan.loadConns);
    this.#loadedAt = new Date().toISOString();
    await this.#refreshSas();
    this.#log.info({ generation: this.#generation }, "configuration reloaded");
    return {
      ok: true,
      generation: this.#generation,
      loaded: plan.loadConns,
      unloaded: plan.unloadConns,
      unchanged: plan.unchanged,
    };
  }

  /** Re-asserts the desired state; after a (re)connect, also starts the tunnels. */
  async #resync(fresh: boolean) {
    if (!this.#link.ready) return;
    try {
      const { plan } = await this.#reconciler.apply(this.#link.port(), this.#rendered);
      this.#noteStarted(plan.loadConns);
      if (fresh) this.#loadedAt = new Date().toISOString();
      if (plan.loadConns.length > 0)
        this.#log.info({ loaded: plan.loadConns }, "re-asserted connections");
      await this.#refreshSas();
      await this.#initiateMissing();
    } catch (error) {
      this.#lastError = (error as Error).message;
      this.#log.warn({ err: error }, "resync with charon failed; will retry");
    }
  }

  /** Makes `config` the running one, a new generation, as the API reports it. */
  #adopt(config: ResolvedConfig, rendered: Rendered) {
    this.#config = config;
    this.#rendered = rendered;
    this.#generation++;
  }

  /** Puts the running config to work outside charon: its swanctl.conf and its probes. */
  async #enact() {
    const config = this.#config;
    // For operators: what is loaded, in swanctl.conf form; 0600 because it holds the keys.
    await writeFileAtomic(join(config.stateDir, "swanctl.conf"), this.#rendered.swanctlConf, 0o600);
    await this.#probes.update(config.tunnels, config.paths);
    this.#trackStates();
  }

  async #refreshSas() {
    if (!this.#link.ready) return;
    this.#sas = await this.#link.port().listSas();
    this.#trackStates();
  }

  /** Notes when each tunnel's and path's state last changed; called whenever an input changes. */
  #trackStates() {
    const now = new Date().toISOString();
    for (const t of this.#config.tunnels) {
      const { state } = this.#derive(t.name);
      if (this.#since.get(t.name)?.state !== state) this.#since.set(t.name, { state, at: now });
    }
    const paths = new Set(this.#config.paths.map((p) => p.name));
    for (const name of this.#pathSince.keys()) if (!paths.has(name)) this.#pathSince.delete(name);
    for (const name of paths) {
      const { state } = this.#probes.pathSnapshot(name);
      if (this.#pathSince.get(name)?.state !== state) this.#pathSince.set(name, { state, at: now });
    }
  }

  #derive(name: string) {
    const sa = this.#sas.get(name) ?? { ike: null, child: null };
    const probe = this.#probes.snapshot(name);
    const derived = deriveTunnelState({
      ike: sa.ike?.state ?? null,
      child: sa.child?.state ?? null,
      probe,
      initiating: this.#link.isInitiating(name),
    });
    return { sa, probe, ...derived };
  }

  /**
   * Tunnels that should be up but have no CHILD_SA get an initiate (charon does not retry a
   * first attempt that failed). One already being negotiated is left alone.
   */
  async #initiateMissing() {
    for (const t of this.#config.tunnels) {
      const sa = this.#sas.get(t.name);
      const negotiating = sa?.ike && !IKE_ALIVE.has(sa.ike.state);
      if (t.startAction !== "start" || sa?.child || negotiating || this.#link.isInitiating(t.name))
        continue;
      this.#link
        .port()
        .initiate(t.name)
        .catch((error: Error) =>
          this.#log.debug({ tunnel: t.name, err: error }, "initiate did not complete"),
        );
    }
  }

  #noteStarted(loaded: readonly string[]) {
    for (const t of this.#config.tunnels) {
      if (t.startAction === "start" && loaded.includes(t.name)) this.#link.noteInitiating(t.name);
    }
  }

  #tunnelStatus(name: string, remoteAddress: string): TunnelStatus {
    const { sa, probe, state, reason } = this.#derive(name);
    return {
      name,
      state,
      remoteAddress,
      reason,
      ike: sa.ike,
      child: sa.child,
      probe,
      since: this.#since.get(name)?.at as string,
    };
  }

  #pathStatus(path: ResolvedPath): PathStatus {
    const { state, rttMs, loss, sent, received } = this.#probes.pathSnapshot(path.name);
    const since = this.#pathSince.get(path.name)?.at as string;
    return { name: path.name, target: path.target, state, rttMs, loss, sent, received, since };
  }

  /** The supervisor knows about exits; the VICI link knows whether charon answers. */
  #charonState(): AgentStatus["charon"]["state"] {
    const supervised = this.#supervisor?.state;
    if (supervised === "crash-loop" || supervised === "restarting") return supervised;
    return this.#link.ready ? "running" : this.#link.connecting ? "starting" : "stopped";
  }

  #requireTunnel(name: string) {
    if (!this.#config.tunnels.some((t) => t.name === name)) {
      throw new SwpError("SWP_ERR_TUNNEL_UNKNOWN", `no tunnel named "${name}" is configured`);
    }
  }

  #emptyResult(ok: boolean): ReloadResult {
    return { ok, generation: this.#generation, loaded: [], unloaded: [], unchanged: [] };
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {});
    return run;
  }
}
