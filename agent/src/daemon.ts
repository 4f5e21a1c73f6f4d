import { mkdir, realpath, stat } from "node:fs/promises";
import { join } from "node:path";
import { CHILD_CARRYING } from "../../common/agent-api/sa-states.ts";
import type {
  AgentStatus,
  ConfigPushResult,
  PathStatus,
  ReloadResult,
  TunnelStatus,
} from "../../common/agent-api/status.ts";
import { writeFileAtomic } from "../../common/atomic-write.ts";
import { SwpError } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import { type ConfigIssue, readConfigFile } from "../../common/yaml-config.ts";
import type { AgentControl } from "./api/control.ts";
import { type ApiServer, startApiServer } from "./api/server.ts";
import type { ApplyPlan } from "./apply/plan.ts";
import { Reconciler } from "./apply/reconciler.ts";
import { withBgp } from "./bgp/health.ts";
import { BgpSessions } from "./bgp/sessions.ts";
import { AwsCarrierWatch, type AwsObservation } from "./carrier/aws-watch.ts";
import { carrierName, type Judgement, judgeGroup } from "./carrier/decide.ts";
import { carrierGroups } from "./carrier/groups.ts";
import {
  agentStartsMain,
  changedMainChildren,
  childToStart,
  mayStartMain,
} from "./carrier/start.ts";
import { CarrierSteer } from "./carrier/steer.ts";
import { CharonLink } from "./charon/link.ts";
import { CharonSupervisor, type LastExit } from "./charon/supervisor.ts";
import { coalesce } from "./coalesce.ts";
import { loadConfigText } from "./config/load.ts";
import { probeChildName } from "./config/probe-child.ts";
import type { ResolvedConfig, ResolvedPath, ResolvedTunnel } from "./config/types.ts";
import { DatapathKeeper } from "./datapath/keeper.ts";
import { ProbeSet } from "./health/probe-set.ts";
import type { SaObservation } from "./health/sa-state.ts";
import { deriveTunnelState } from "./health/tunnel-state.ts";
import { createMetrics, reloadOutcome } from "./metrics.ts";
import { type Rendered, renderAll } from "./render/index.ts";
import { charonLogPath } from "./render/strongswan-conf.ts";
import { renderSwanctlConf } from "./render/swanctl-conf.ts";

export interface DaemonOptions {
  configPath: string;
  logger: Logger;
  /** How often desired state is re-asserted and SAs are re-read, whatever events said. */
  resyncMs?: number;
}

/** Settings that shape charon's own process and the API; changing them needs an agent restart. */
const RESTART_FIELDS = ["appliance", "datapath", "charon", "stateDir", "api"] as const;

function restartIssues(running: ResolvedConfig, next: ResolvedConfig): ConfigIssue[] {
  return RESTART_FIELDS.filter((f) => JSON.stringify(running[f]) !== JSON.stringify(next[f])).map(
    (f) => ({
      path: f,
      rule: "restart",
      message: `differs from the running config; changes to ${RESTART_FIELDS.join(", ")} take an agent restart`,
    }),
  );
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
  readonly #steer: CarrierSteer;
  readonly #aws: AwsCarrierWatch;
  readonly #datapath: DatapathKeeper;
  readonly #bgp: BgpSessions;
  #config!: ResolvedConfig;
  /** The text #config was loaded from: GET /v1/config. */
  #text!: string;
  /** The desired state rendered from #config, once per config generation. */
  #rendered!: Rendered;
  /** The running config's carrier groups (decision 0017). */
  #groups: ResolvedTunnel[][] = [];
  /** The running config's aws-vpn tunnels by name, with their carrier group. */
  #awsGroups = new Map<string, ResolvedTunnel[]>();
  /** Tunnels whose main CHILD_SA this agent starts, not charon (agentStartsMain). */
  #agentStarted: ResolvedTunnel[] = [];
  #generation = 0;
  #loadedAt: string | null = null;
  #lastError: string | null = null;
  #supervisor: CharonSupervisor | undefined;
  /**
   * External mode: the last time charon's VICI connection closed under the agent (a crash,
   * or its service restarting it), so the controller can tell a charon that is coming back.
   */
  #externalExit: LastExit | null = null;
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
    this.#steer = new CarrierSteer({
      log: opts.logger.child({ component: "carrier" }),
      onDue: () => void this.#refreshOnEvent(),
    });
    const rejudge = () => {
      this.#trackStates();
      void this.#refreshOnEvent();
    };
    this.#aws = new AwsCarrierWatch({
      log: opts.logger.child({ component: "probe" }),
      observe: (tunnels) => this.#observeAws(tunnels),
      onChange: rejudge,
    });
    this.#datapath = new DatapathKeeper(opts.logger.child({ component: "datapath" }));
    this.#bgp = new BgpSessions(opts.logger.child({ component: "frr" }), rejudge);
  }

  /**
   * Binds the API before anything else starts (probes, charon, timers), so an agent that
   * cannot serve has done nothing; if a later step fails, what started is stopped again.
   * @param config the validated config read from opts.configPath
   */
  async start(config: ResolvedConfig): Promise<void> {
    // What GET /v1/config answers until a reload or push: the file `config` was loaded from
    // a moment ago, read once more.
    const path = this.#opts.configPath;
    const read = await readConfigFile(path);
    if (!read.ok) {
      const why = read.issues.map((i) => i.message).join("; ");
      throw new SwpError("SWP_ERR_CONFIG_READ", `cannot read ${path}: ${why}`, { path });
    }
    this.#text = read.text;
    this.#link = new CharonLink({
      viciPath: config.charon.vici,
      connectTimeoutMs: config.charon.startTimeoutMs,
      logger: this.#log.child({ component: "vici" }),
      onReady: () => this.#enqueue(() => this.#resync(true)),
      onEvent: () => void this.#refreshOnEvent(),
      onLost: ({ ranMs }) => {
        this.#sas.clear();
        this.#reconciler.reset();
        if (this.#config.charon.mode === "external")
          this.#externalExit = {
            code: null,
            signal: null,
            at: new Date().toISOString(),
            ranMs,
            reason: "charon's VICI connection closed; its service is to start it again",
          };
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
      // A probe that rises or falls may change a group's wanted carrier: steer on fresh SAs.
      this.#probes.onChange(() => {
        this.#trackStates();
        void this.#refreshOnEvent();
      });
      await this.#enact();
      await this.#applyDatapath();
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
        // Written in the config or asked of IMDS (decision 0020): the addresses charon uses.
        localAddress: config.appliance.localAddress,
        publicAddress: config.appliance.publicAddress ?? null,
        tunnels: config.tunnels.length,
        paths: config.paths.length,
        mode: config.charon.mode,
      },
      "agent started",
    );
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#steer.stop();
    await this.#api?.close();
    await this.#probes.stop();
    await this.#aws.stop();
    await this.#bgp.stop();
    await this.#queue.catch(() => {});
    this.#link?.close();
    await this.#supervisor?.stop();
    this.#log.info("agent stopped");
  }

  status(): AgentStatus {
    // "initiating" expires with time alone, so states are brought up to date here too.
    this.#trackStates();
    const c = this.#config;
    const judgements = this.#judgements();
    return {
      appliance: c.appliance.name,
      datapath: c.datapath,
      charon: {
        mode: c.charon.mode,
        state: this.#charonState(),
        pid: this.#supervisor?.pid ?? null,
        restarts: this.#supervisor?.restarts ?? 0,
        version: this.#link.version,
        lastExit: this.#supervisor?.lastExit ?? this.#externalExit,
      },
      config: {
        path: this.#opts.configPath,
        generation: this.#generation,
        loadedAt: this.#loadedAt,
        lastError: this.#lastError,
      },
      tunnels: c.tunnels.map((t) => this.#tunnelStatus(t.name, t.remoteAddress, judgements)),
      paths: c.paths.map((p) => this.#pathStatus(p)),
    };
  }

  async metrics(): Promise<string> {
    this.#metrics.update(this.status());
    return this.#metrics.registry.metrics();
  }

  reload(): Promise<ReloadResult> {
    return this.#enqueue(() =>
      this.#counted(async () => {
        const read = await readConfigFile(this.#opts.configPath);
        if (!read.ok) return this.#refused("reload", read.issues);
        return this.#reload(read.text, "reload");
      }),
    );
  }

  putConfig(text: string): Promise<ConfigPushResult> {
    return this.#enqueue(async () => {
      const before = this.#text;
      const result = await this.#counted(() => this.#reload(text, "push"));
      return { ...result, configChanged: this.#text !== before };
    });
  }

  configText(): string {
    return this.#text;
  }

  /** A reload or push, run in the queue: counted, and a throw turned into ok:false. */
  async #counted(task: () => Promise<ReloadResult>): Promise<ReloadResult> {
    const result = await task().catch(
      (error: Error): ReloadResult => ({ ...this.#emptyResult(false), error: error.message }),
    );
    this.#metrics.reloads.inc({ result: reloadOutcome(result) });
    this.#lastError = result.ok ? null : (result.error ?? "configuration rejected");
    return result;
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

  /**
   * Makes `text` the running config if it is valid (keys included) and needs no restart. A push
   * also writes it to the config file, after validation and before charon sees it; if charon
   * then refuses it, the reconciler restores charon's previous state and the file gets the
   * running config's text back.
   */
  async #reload(text: string, source: "reload" | "push"): Promise<ReloadResult> {
    const loaded = await loadConfigText(text);
    if (!loaded.ok) return this.#refused(source, loaded.issues);
    const restart = restartIssues(this.#config, loaded.config);
    if (restart.length > 0) return this.#refused(source, restart);
    const push = source === "push";
    if (push) await this.#writeConfigFile(text);
    const rendered = renderAll(loaded.config, { redactSecrets: false });
    let plan: ApplyPlan;
    try {
      ({ plan } = await this.#reconciler.apply(this.#link.port(), rendered, { precheck: false }));
    } catch (error) {
      if (push) await this.#restoreConfigFile();
      throw error;
    }
    const remake = changedMainChildren(
      loaded.config.tunnels,
      loaded.config.datapath,
      this.#rendered.connections,
      rendered.connections,
    );
    this.#adopt(loaded.config, rendered);
    this.#text = text;
    await this.#enact();
    this.#noteStarted(plan.loadConns);
    for (const tunnel of remake) {
      this.#log.info({ tunnel }, "its CHILD_SA config changed: making the CHILD_SA again");
      // The new config is running already: a CHILD_SA left in place keeps the old selectors
      // until its next negotiation, which is worth a warning, not a failed reload.
      try {
        await this.#link.port().terminate(tunnel);
      } catch (err) {
        this.#log.warn({ tunnel, err }, "could not terminate it; it keeps its old selectors");
      }
    }
    this.#loadedAt = new Date().toISOString();
    await this.#refreshSas();
    await this.#applyDatapath();
    this.#log.info(
      { generation: this.#generation, source },
      push ? "configuration pushed and applied" : "configuration reloaded",
    );
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
      await this.#applyDatapath();
    } catch (error) {
      this.#lastError = (error as Error).message;
      this.#log.warn({ err: error }, "resync with charon failed; will retry");
    }
  }

  /** Makes `config` the running one, a new generation, as the API reports it. */
  #adopt(config: ResolvedConfig, rendered: Rendered) {
    this.#config = config;
    this.#rendered = rendered;
    this.#groups = carrierGroups(config.tunnels);
    this.#awsGroups = new Map(
      this.#groups.flatMap((g) => g.flatMap((t) => (t.aws ? [[t.name, g] as const] : []))),
    );
    this.#agentStarted = config.tunnels.filter((t) => agentStartsMain(t, config.datapath));
    this.#generation++;
  }

  /** Puts the running config to work outside charon: its swanctl.conf and its probes. */
  async #enact() {
    const config = this.#config;
    // For operators: what is loaded, in swanctl.conf form, with the keys redacted: a key from
    // SSM never reaches the disk in clear (decision 0015), and a file key is there already.
    const { connections, secrets } = this.#rendered;
    const text = renderSwanctlConf(connections, secrets, { redactSecrets: true });
    await writeFileAtomic(join(config.stateDir, "swanctl.conf"), text, 0o600);
    await this.#probes.update(config.tunnels, config.paths);
    await this.#aws.sync(this.#groups, new Map());
    await this.#bgp.sync(config);
    this.#trackStates();
  }

  async #refreshSas() {
    if (!this.#link.ready) return;
    const port = this.#link.port();
    this.#sas = await port.listSas();
    this.#trackStates();
    const judgements = this.#judgements();
    for (const action of this.#steer.act(judgements, port)) {
      this.#metrics.carrierActions.inc({ action: action.kind });
    }
    // Each aws-vpn entry's ping follows the tunnel that carries.
    await this.#aws.sync(this.#groups, this.#awsCarriers(judgements));
    // A far end's new IKE_SA is answered at once with the main CHILD_SA (decision 0017).
    await this.#initiateMissing(this.#agentStarted);
  }

  /**
   * Links, addresses and routes of route-based tunnels (aws-vpn entries), level-triggered:
   * on start (before charon), on every resync and after a reload (decision 0023).
   */
  async #applyDatapath() {
    await this.#datapath.keep(this.#config, this.#awsCarriers(this.#judgements()));
  }

  /** Every carrier group judged on the SAs and probes as they are now. */
  #judgements(): Judgement[] {
    return this.#groups.map((group) => {
      const aws = this.#awsStates(group);
      return judgeGroup(
        group.map((t) => ({
          name: t.name,
          priority: t.priority,
          probe: aws?.get(t.name) ?? this.#probes.snapshot(t.name).state,
          sa: this.#saOf(t.name),
          initiating: this.#link.isInitiating(t.name),
          mayStart: this.#mayStart(t),
        })),
        this.#config.datapath,
      );
    });
  }

  /** An aws-vpn entry's tunnels: their SAs and which of them carries now. */
  #observeAws(tunnels: readonly ResolvedTunnel[]): AwsObservation {
    const members = tunnels.map((t) => ({
      name: t.name,
      priority: t.priority,
      sa: this.#saOf(t.name),
    }));
    return { members, carrier: carrierName(members, this.#config.datapath) };
  }

  /** The probe states an aws-vpn entry's tunnels count with (decision 0023); undefined for others. */
  #awsStates(group: readonly ResolvedTunnel[]) {
    const entry = group[0]?.aws?.entry;
    return entry === undefined ? undefined : this.#aws.probeStates(entry, this.#observeAws(group));
  }

  /** Per aws-vpn entry, the tunnel that carries, where known. */
  #awsCarriers(judgements: readonly Judgement[]): Map<string, string> {
    const carriers = new Map<string, string>();
    for (const j of judgements) {
      if (j.carrier === null) continue;
      const entry = this.#awsGroups.get(j.carrier)?.[0]?.aws?.entry;
      if (entry !== undefined) carriers.set(entry, j.carrier);
    }
    return carriers;
  }

  /** Whether this end may start tunnel t's missing main CHILD_SA now, or leaves it to the far end. */
  #mayStart(t: ResolvedTunnel): boolean {
    return !agentStartsMain(t, this.#config.datapath) || mayStartMain(this.#saOf(t.name));
  }

  #saOf(name: string): SaObservation {
    return this.#sas.get(name) ?? { ike: null, child: null };
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
    const sa = this.#saOf(name);
    const group = this.#awsGroups.get(name);
    const tunnel = group?.find((t) => t.name === name);
    const probe = tunnel
      ? this.#aws.snapshot(tunnel, this.#awsStates(group ?? [])?.get(name) ?? "unknown")
      : this.#probes.snapshot(name);
    const derived = deriveTunnelState({
      ike: sa.ike?.state ?? null,
      child: sa.child?.state ?? null,
      probe,
      initiating: this.#link.isInitiating(name) || this.#link.isInitiating(probeChildName(name)),
    });
    if (!tunnel?.aws?.bgp) return { sa, probe, bgp: undefined, ...derived };
    const neighbor = tunnel.aws.inside.remote;
    const session = this.#bgp.session(neighbor);
    const bgp = {
      neighbor,
      state: session?.state ?? "unknown",
      prefixesReceived: session?.prefixesReceived ?? 0,
    };
    return { sa, probe, bgp, ...withBgp(derived, session) };
  }

  /**
   * Tunnels that should be up but have no CHILD_SA get an initiate (charon does not retry a
   * first attempt that failed), unless the far end's agent is to start it (mayStartMain). One
   * already being negotiated is left alone.
   */
  async #initiateMissing(tunnels = this.#config.tunnels) {
    for (const t of tunnels) {
      const sa = this.#saOf(t.name);
      const child = childToStart(t, sa, this.#config.datapath);
      if (child === undefined || this.#link.isInitiating(child)) continue;
      if (sa.ike && agentStartsMain(t, this.#config.datapath)) {
        const why = sa.ike.initiator
          ? "the far end's agent did not start it within the grace"
          : "the far end made the IKE_SA without it";
        this.#log.info({ tunnel: t.name }, `starting the main CHILD_SA: ${why}`);
      }
      this.#link
        .port()
        .initiate(t.name, child)
        .catch((error: Error) =>
          this.#log.debug({ tunnel: t.name, err: error }, "initiate did not complete"),
        );
    }
  }

  /** charon starts what it loads with start_action=start: the main CHILD_SA or the probe's. */
  #noteStarted(loaded: readonly string[]) {
    for (const t of this.#config.tunnels) {
      if (t.startAction !== "start" || !loaded.includes(t.name)) continue;
      const agentStarts = agentStartsMain(t, this.#config.datapath);
      this.#link.noteInitiating(agentStarts ? probeChildName(t.name) : t.name);
    }
  }

  #tunnelStatus(name: string, remoteAddress: string, judgements: Judgement[]): TunnelStatus {
    const { sa, probe, state, reason, bgp } = this.#derive(name);
    const judged = judgements.find((j) => j.members.includes(name));
    return {
      name,
      state,
      remoteAddress,
      reason,
      ike: sa.ike,
      child: sa.child,
      probe,
      ...(bgp && { bgp }),
      since: this.#since.get(name)?.at as string,
      group: judged
        ? { members: judged.members, carrier: judged.carrier, wanted: judged.wanted }
        : null,
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
    if (this.#link.ready) return "running";
    if (!this.#link.connecting) return "stopped";
    return this.#externalExit ? "restarting" : "starting";
  }

  #requireTunnel(name: string) {
    if (!this.#config.tunnels.some((t) => t.name === name)) {
      throw new SwpError("SWP_ERR_TUNNEL_UNKNOWN", `no tunnel named "${name}" is configured`);
    }
  }

  #refused(source: "reload" | "push", issues: ConfigIssue[]): ReloadResult {
    this.#log.warn({ issues, source }, `${source} rejected: the new config is invalid`);
    return { ...this.#emptyResult(false), issues, error: "configuration invalid" };
  }

  /** Atomically; through a symlink to its target; with the mode of the file it replaces. */
  async #writeConfigFile(text: string) {
    const path = await realpath(this.#opts.configPath).catch(() => this.#opts.configPath);
    const mode = (await stat(path).catch(() => undefined))?.mode ?? 0o600;
    await writeFileAtomic(path, text, mode & 0o777);
  }

  async #restoreConfigFile() {
    await this.#writeConfigFile(this.#text).catch((error: Error) =>
      this.#log.error(
        { err: error, path: this.#opts.configPath },
        "could not write the running config back to the config file, which holds the refused one",
      ),
    );
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
