/**
 * Typed helpers for the VICI commands swanpair uses. Argument names follow strongSwan
 * 5.9's vici plugin (note the dashes: "ike-id", "child-id", "init-limits").
 */
import { SwpError } from "../../../common/errors.ts";
import type { CallOptions, ViciClient } from "./client.ts";
import type { DecodedMessage, ViciMessage, ViciScalar } from "./message.ts";

/** Extra time a call gets beyond charon's own timeout, so charon's answer (and errmsg) arrives first. */
const CHARON_TIMEOUT_MARGIN_MS = 5000;

export interface SharedKey {
  /** Unique id, so the key can be listed (getShared) and unloaded. */
  id: string;
  /** IKE, EAP, XAUTH, NTLM or PPK. */
  type: string;
  /** Never logged; bytes for binary keys. */
  data: ViciScalar;
  /** Identities the key belongs to; charon uses %any when empty. */
  owners: string[];
}

/** One IKE_SA from list-sas: its connection name and charon's section describing it. */
export interface SaEntry {
  ikeName: string;
  ike: DecodedMessage;
}

/** One connection from list-conns. */
export interface ConnEntry {
  name: string;
  conn: DecodedMessage;
}

export interface SaFilter {
  ike?: string;
  ikeId?: number;
  child?: string;
  childId?: number;
  /** Do not wait for IKE_SAs that are busy; they are skipped instead. */
  noblock?: boolean;
}

export interface InitiateArgs {
  child?: string;
  ike?: string;
  /** charon's own wait: 0 waits for the outcome indefinitely, -1 returns at once. */
  timeoutMs: number;
  /** Let charon's IKE_SA limits refuse the initiation. */
  initLimits?: boolean;
}

export interface TerminateArgs {
  ike?: string;
  child?: string;
  ikeId?: number;
  childId?: number;
  /** Delete the IKE_SA without waiting for the peer's DELETE response. */
  force?: boolean;
  /** charon's own wait, as for initiate; charon's default (0) waits indefinitely. */
  timeoutMs?: number;
}

/** Which SAs to rekey; charon rekeys every one that matches. */
export interface RekeyArgs {
  child?: string;
  ike?: string;
  childId?: number;
  ikeId?: number;
}

function badReply(cmd: string, what: string): SwpError {
  return new SwpError("SWP_ERR_VICI_PROTOCOL", `${cmd} reply: ${what}`, { command: cmd });
}

function text(msg: DecodedMessage, key: string, cmd: string): string {
  const value = msg[key];
  if (typeof value !== "string") throw badReply(cmd, `"${key}" is missing or not a value`);
  return value;
}

/** charon sends an empty list as LIST_START/LIST_END; a missing one is read as empty too. */
function strings(msg: DecodedMessage, key: string, cmd: string): string[] {
  const value = msg[key];
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw badReply(cmd, `"${key}" is not a list`);
  return value;
}

function sections(event: DecodedMessage): [string, DecodedMessage][] {
  return Object.entries(event).filter(
    (entry): entry is [string, DecodedMessage] =>
      typeof entry[1] === "object" && !Array.isArray(entry[1]),
  );
}

/** A message from optional arguments: absent ones are left out rather than sent empty. */
function args(fields: Record<string, string | number | boolean | undefined>): ViciMessage {
  const msg: ViciMessage = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    msg[key] = typeof value === "boolean" ? (value ? "yes" : "no") : String(value);
  }
  return msg;
}

/** Returns the strongSwan version, e.g. "5.9.8". */
export async function version(client: ViciClient, options?: CallOptions): Promise<string> {
  return text(await client.call("version", {}, options), "version", "version");
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** charon's `%T` time ("Dec 02 15:04:05 2026", local time) in ms since the epoch. */
export function parseCharonTime(text: string): number | undefined {
  const m = /^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/.exec(text.trim());
  const month = MONTHS.indexOf(m?.[1] ?? "");
  if (!m || month < 0) return undefined;
  const [day, h, min, sec, year] = m.slice(2).map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  return new Date(year, month, day, h, min, sec).getTime();
}

/** When the charon answering started (`stats` uptime.since: whole seconds, within about 2 s). */
export async function startedAt(client: ViciClient, options?: CallOptions): Promise<number> {
  const uptime = (await client.call("stats", {}, options)).uptime;
  if (typeof uptime !== "object" || Array.isArray(uptime))
    throw badReply("stats", '"uptime" is missing or not a section');
  const since = text(uptime, "since", "stats");
  const at = parseCharonTime(since);
  if (at === undefined) throw badReply("stats", `uptime.since "${since}" is not a time`);
  return at;
}

/**
 * Loads connections, one top-level section each, in one round trip. charon loads them in
 * order and stops at the first it refuses: the ones before it are loaded, the rest are not.
 */
export async function loadConns(
  client: ViciClient,
  sections: Record<string, ViciMessage>,
  options?: CallOptions,
): Promise<void> {
  await client.call("load-conn", sections, options);
}

/** Fails (SWP_ERR_VICI_COMMAND) when no connection of that name was loaded over VICI. */
export async function unloadConn(client: ViciClient, name: string, options?: CallOptions) {
  await client.call("unload-conn", { name }, options);
}

/** Names of the connections loaded over VICI (not those from other backends). */
export async function getConns(client: ViciClient, options?: CallOptions): Promise<string[]> {
  return strings(await client.call("get-conns", {}, options), "conns", "get-conns");
}

export async function loadShared(client: ViciClient, key: SharedKey, options?: CallOptions) {
  const { id, type, data, owners } = key;
  await client.call("load-shared", { id, type, data, owners }, options);
}

/** Succeeds for an unknown id too. */
export async function unloadShared(client: ViciClient, id: string, options?: CallOptions) {
  await client.call("unload-shared", { id }, options);
}

/** Ids of the shared keys loaded over VICI with an id. */
export async function getShared(client: ViciClient, options?: CallOptions): Promise<string[]> {
  return strings(await client.call("get-shared", {}, options), "keys", "get-shared");
}

async function collect<T>(
  stream: AsyncIterable<DecodedMessage>,
  entry: (name: string, section: DecodedMessage) => T,
): Promise<T[]> {
  const out: T[] = [];
  for await (const event of stream) {
    for (const [name, section] of sections(event)) out.push(entry(name, section));
  }
  return out;
}

export function listSas(
  client: ViciClient,
  filter: SaFilter = {},
  options?: CallOptions,
): Promise<SaEntry[]> {
  const msg = args({
    // charon only tests whether "noblock" is present.
    noblock: filter.noblock ? "yes" : undefined,
    ike: filter.ike,
    "ike-id": filter.ikeId,
    child: filter.child,
    "child-id": filter.childId,
  });
  return collect(client.stream("list-sas", "list-sa", msg, options), (ikeName, ike) => ({
    ikeName,
    ike,
  }));
}

/** All connections charon knows, from any backend. */
export function listConns(
  client: ViciClient,
  filter: { ike?: string } = {},
  options?: CallOptions,
): Promise<ConnEntry[]> {
  const stream = client.stream("list-conns", "list-conn", args({ ike: filter.ike }), options);
  return collect(stream, (name, conn) => ({ name, conn }));
}

/**
 * Runs initiate/terminate, which stream "control-log" events. Unless the caller set one,
 * the call's timeout follows charon's, plus a margin. A failure's details carry the log.
 */
async function control(
  client: ViciClient,
  cmd: string,
  msg: ViciMessage,
  charonTimeoutMs: number | undefined,
  options: CallOptions = {},
): Promise<DecodedMessage> {
  const waits = charonTimeoutMs !== undefined && charonTimeoutMs > 0;
  const timeoutMs =
    options.timeoutMs ?? (waits ? charonTimeoutMs + CHARON_TIMEOUT_MARGIN_MS : undefined);
  const stream = client.stream(cmd, "control-log", msg, { ...options, timeoutMs });
  const log: string[] = [];
  try {
    // Iterated by hand: the stream's return value is charon's final response.
    for (;;) {
      const next = await stream.next();
      if (next.done) return next.value;
      if (typeof next.value.msg === "string") log.push(next.value.msg);
    }
  } catch (err) {
    if (err instanceof SwpError && err.code === "SWP_ERR_VICI_COMMAND") {
      throw new SwpError(
        err.code,
        err.message,
        { ...(err.details as object), log },
        { cause: err },
      );
    }
    throw err;
  }
}

export async function initiate(
  client: ViciClient,
  what: InitiateArgs,
  options?: CallOptions,
): Promise<void> {
  const msg = args({
    child: what.child,
    ike: what.ike,
    timeout: what.timeoutMs,
    "init-limits": what.initLimits,
  });
  await control(client, "initiate", msg, what.timeoutMs, options);
}

/**
 * Fails (SWP_ERR_VICI_COMMAND) when nothing matched, as charon does
 * ("no matching SAs to terminate found").
 */
export async function terminate(
  client: ViciClient,
  what: TerminateArgs,
  options?: CallOptions,
): Promise<{ matches: number; terminated: number }> {
  const msg = args({
    child: what.child,
    ike: what.ike,
    "child-id": what.childId,
    "ike-id": what.ikeId,
    force: what.force,
    timeout: what.timeoutMs,
  });
  const reply = await control(client, "terminate", msg, what.timeoutMs, options);
  return {
    matches: Number(text(reply, "matches", "terminate")),
    terminated: Number(text(reply, "terminated", "terminate")),
  };
}

/**
 * Queues a rekey of the matching SAs; charon answers at once and rekeys in the background
 * (events tell the outcome). A CHILD_SA's rekey installs the new SA before the old one goes.
 * Fails (SWP_ERR_VICI_COMMAND) when nothing matched.
 */
export async function rekey(
  client: ViciClient,
  what: RekeyArgs,
  options?: CallOptions,
): Promise<{ matches: number }> {
  const msg = args({
    child: what.child,
    ike: what.ike,
    "child-id": what.childId,
    "ike-id": what.ikeId,
  });
  return { matches: Number(text(await client.call("rekey", msg, options), "matches", "rekey")) };
}
