import { join } from "node:path";
import type { AgentControl } from "../../agent/src/api/control.ts";
import { type ApiServer, startApiServer } from "../../agent/src/api/server.ts";
import type { TunnelState } from "../../common/agent-api/status.ts";
import { SwpError } from "../../common/errors.ts";
import { createLogger } from "../../common/logger.ts";
import type { Fleet } from "../../control-plane/src/fleet/types.ts";
import { agentStatus, pathStatus, tunnelStatus } from "../fixtures/agent-status.ts";
import { tempDir } from "./temp-dir.ts";

/**
 * The agent API the controller talks to, served by the real API server on real Unix sockets,
 * with the health each appliance reports set by the test (tunnels named after the far
 * appliance, as the controller expects). The tunnels themselves are not run here: the
 * controller's tests are about what it does with the reports; test/integration/agent-*.ts
 * show that real agents report real tunnels this way.
 */
export class ScriptedAgents {
  readonly #dir: string;
  readonly #servers = new Map<string, ApiServer>();
  readonly #tunnels = new Map<string, Record<string, TunnelState>>();
  readonly #paths = new Map<string, Record<string, "up" | "down">>();
  readonly #logger = createLogger({ name: "scripted-agent", level: "silent" });

  private constructor(dir: string) {
    this.#dir = dir;
  }

  /** Serves every appliance of `fleet` with all tunnels to far appliances up. */
  static async start(
    t: { teardown(fn: () => unknown): void },
    fleet: Fleet,
  ): Promise<ScriptedAgents> {
    const agents = new ScriptedAgents(await tempDir(t, "swp-ag-"));
    t.teardown(() => agents.close());
    for (const a of fleet.appliances) {
      const pair = fleet.pairs.find((p) => p.members.includes(a.name));
      const farPairs = fleet.connections
        .flatMap((c) => (c.kind === "site-to-site" ? [c.between] : []))
        .filter((between) => pair && between.includes(pair.name))
        .map((between) => between.find((p) => p !== pair?.name));
      const far = fleet.pairs.filter((p) => farPairs.includes(p.name)).flatMap((p) => p.members);
      agents.#tunnels.set(a.name, Object.fromEntries(far.map((f) => [f, "up" as TunnelState])));
      await agents.up(a.name);
    }
    return agents;
  }

  socket(appliance: string): string {
    return join(this.#dir, `${appliance}.sock`);
  }

  /** `fleet` with each appliance's agent at its scripted socket. */
  wire(fleet: Fleet): Fleet {
    return {
      ...fleet,
      appliances: fleet.appliances.map((a) => ({
        ...a,
        agent: { kind: "unix", path: this.socket(a.name) },
      })),
    };
  }

  /** Sets the tunnels `appliance` reports, by far appliance; unnamed ones keep their state. */
  setTunnels(appliance: string, tunnels: Record<string, TunnelState>): void {
    this.#tunnels.set(appliance, { ...this.#tunnels.get(appliance), ...tunnels });
  }

  /** Sets the path probes `appliance` reports, by name (the fleet connection they measure). */
  setPaths(appliance: string, paths: Record<string, "up" | "down">): void {
    this.#paths.set(appliance, { ...this.#paths.get(appliance), ...paths });
  }

  /** Starts answering for `appliance` (again). */
  async up(appliance: string): Promise<void> {
    if (this.#servers.has(appliance)) return;
    const control: AgentControl = {
      status: () =>
        agentStatus(
          Object.entries(this.#tunnels.get(appliance) ?? {}).map(([far, state]) =>
            tunnelStatus(far, { state }),
          ),
          {
            appliance,
            paths: Object.entries(this.#paths.get(appliance) ?? {}).map(([name, state]) =>
              pathStatus(name, { state }),
            ),
          },
        ),
      reload: async () => {
        throw new SwpError("SWP_ERR_API_REQUEST", "scripted agent does not reload");
      },
      putConfig: async () => {
        throw new SwpError("SWP_ERR_API_REQUEST", "scripted agent takes no config");
      },
      configText: () => "",
      initiate: async () => {},
      terminate: async () => {},
      metrics: async () => "",
    };
    const server = await startApiServer({
      socketPath: this.socket(appliance),
      control,
      logger: this.#logger,
    });
    this.#servers.set(appliance, server);
  }

  /** Stops answering for `appliance`: its socket goes away, as when the agent or host dies. */
  async down(appliance: string): Promise<void> {
    const server = this.#servers.get(appliance);
    this.#servers.delete(appliance);
    await server?.close();
  }

  async close(): Promise<void> {
    await Promise.all([...this.#servers.keys()].map((a) => this.down(a)));
  }
}
