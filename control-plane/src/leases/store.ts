import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  UpdateItemCommand,
  type UpdateItemCommandInput,
  type UpdateItemCommandOutput,
} from "@aws-sdk/client-dynamodb";
import { CallCounter } from "../../../common/call-counter.ts";
import { NETWORK_CODES, type SdkErrorShape } from "../../../common/sdk-errors.ts";

/**
 * The lease items in DynamoDB: one item per connection side, written only with conditional
 * writes, so that of two controllers claiming one side exactly one wins. Thin: one request per
 * call (the rare re-claim of a lease already ours takes two), no retries (the keeper retries
 * on its own schedule), a deadline from the caller on every request. A refused condition is a
 * result, never an exception. See docs/decisions/0013-leases-in-dynamodb.md.
 */

/** A lease as stored. `expiresAt` is ms since the epoch by the clock of the controller that wrote it. */
export interface Lease {
  side: string;
  holder: string;
  epoch: number;
  expiresAt: number;
}

/** `taken`: another controller holds a lease that has not expired; `current` when DynamoDB said which. */
export type ClaimResult = { ok: true; lease: Lease } | { ok: false; current?: Lease };
/** `ok: false`: the lease is no longer this holder's at this epoch; `current` is what is stored. */
export type RenewResult = { ok: true; lease: Lease } | { ok: false; current?: Lease };
export type ReleaseResult = { ok: true } | { ok: false; current?: Lease };

/** The lease operations, as counted. `reclaim` is the second request of a claim of a lease already ours. */
export type LeaseOperation = "read" | "claim" | "reclaim" | "renew" | "release";

/** How one request ended. */
export type LeaseCallOutcome =
  | "ok"
  /** The condition was refused: taken (claim) or lost (renew, release). */
  | "conditional-failed"
  | "throttled"
  | "server-error"
  | "client-error"
  | "timeout"
  | "network"
  | "error";

export interface CallOptions {
  /** The request's deadline; the caller owns it (AbortSignal.timeout). */
  signal: AbortSignal;
}

export interface ClaimOptions {
  /** Another's lease is claimable only once it expired before `now - skewMs`. */
  skewMs?: number;
  /**
   * The epoch a missing item counts as having (default 0, so the first claim gets 1). An
   * item is missing before the first claim, and again once DynamoDB's TTL deleted it (a week
   * after its last lease ended): pass the highest epoch seen elsewhere (fence tags) so that
   * epochs keep growing across that deletion. An existing item's epoch is never lowered or
   * raised by it.
   */
  epochFloor?: number;
}

/** Seconds after a lease's expiry that DynamoDB's TTL may delete the item: garbage collection only. */
export const GC_AFTER_S = 7 * 24 * 3600;

/** A request that failed other than by its condition. */
export class LeaseStoreError extends Error {
  readonly operation: LeaseOperation;
  /** The SDK's error name (e.g. ResourceNotFoundException), or the socket error code. */
  readonly errorName: string;
  readonly outcome: Exclude<LeaseCallOutcome, "ok" | "conditional-failed">;
  constructor(
    operation: LeaseOperation,
    errorName: string,
    outcome: LeaseStoreError["outcome"],
    cause: unknown,
  ) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super(`DynamoDB lease ${operation} failed: ${errorName}: ${detail}`, { cause });
    this.name = "LeaseStoreError";
    this.operation = operation;
    this.errorName = errorName;
    this.outcome = outcome;
  }
}

/** Requests by lease operation and outcome. */
export class LeaseCallCounter extends CallCounter<LeaseOperation, LeaseCallOutcome> {}

/** The operations the keeper needs; LeaseStore, or a fake in unit tests. */
export interface LeaseStoreApi {
  readonly calls: LeaseCallCounter;
  read(side: string, options: CallOptions): Promise<Lease | undefined>;
  claim(
    side: string,
    holder: string,
    ttlMs: number,
    now: number,
    options: CallOptions & ClaimOptions,
  ): Promise<ClaimResult>;
  renew(
    side: string,
    holder: string,
    epoch: number,
    ttlMs: number,
    now: number,
    options: CallOptions,
  ): Promise<RenewResult>;
  release(
    side: string,
    holder: string,
    epoch: number,
    options: CallOptions,
  ): Promise<ReleaseResult>;
}

const THROTTLES = new Set([
  "ProvisionedThroughputExceededException",
  "ThrottlingException",
  "RequestLimitExceeded",
]);

/** The error of a request that failed other than by its condition. */
function failure(operation: LeaseOperation, error: unknown, signal: AbortSignal): LeaseStoreError {
  const e = (error ?? {}) as SdkErrorShape;
  const name = e.name ?? "Error";
  const status = e.$metadata?.httpStatusCode;
  if (signal.aborted) return new LeaseStoreError(operation, name, "timeout", error);
  if (THROTTLES.has(name)) return new LeaseStoreError(operation, name, "throttled", error);
  if (status !== undefined)
    return new LeaseStoreError(
      operation,
      name,
      status >= 500 ? "server-error" : "client-error",
      error,
    );
  if (typeof e.code === "string" && NETWORK_CODES.has(e.code))
    return new LeaseStoreError(operation, e.code, "network", error);
  return new LeaseStoreError(operation, name, "error", error);
}

/**
 * Every attribute through a placeholder: DynamoDB refuses reserved words as names in
 * expressions, and an unused placeholder is an error too, hence `pick`.
 */
const NAMES = {
  "#side": "side",
  "#holder": "holder",
  "#epoch": "epoch",
  "#expiresAt": "expiresAt",
  "#expires": "expires",
} as const;
type Placeholder = keyof typeof NAMES;
const pick = (...names: Placeholder[]) => Object.fromEntries(names.map((n) => [n, NAMES[n]]));

const S = (s: string): AttributeValue => ({ S: s });
const N = (n: number): AttributeValue => ({ N: String(n) });

/** An item as stored, or undefined when it is not a lease item (then the caller reports it). */
export function parseLease(item: Record<string, AttributeValue> | undefined): Lease | undefined {
  if (!item) return undefined;
  const side = item.side?.S;
  const holder = item.holder?.S;
  const epoch = Number(item.epoch?.N);
  const expiresAt = Number(item.expiresAt?.N);
  if (side === undefined || holder === undefined) return undefined;
  if (!Number.isSafeInteger(epoch) || !Number.isFinite(expiresAt)) return undefined;
  return { side, holder, epoch, expiresAt };
}

export class LeaseStore implements LeaseStoreApi {
  readonly client: DynamoDBClient;
  readonly table: string;
  readonly calls = new LeaseCallCounter();

  constructor(client: DynamoDBClient, table: string) {
    this.client = client;
    this.table = table;
  }

  /** The lease of `side` (strongly consistent), or undefined when there is none. */
  async read(side: string, { signal }: CallOptions): Promise<Lease | undefined> {
    try {
      const out = await this.client.send(
        new GetItemCommand({ TableName: this.table, Key: { side: S(side) }, ConsistentRead: true }),
        { abortSignal: signal },
      );
      this.calls.record("read", "ok");
      if (out.Item === undefined) return undefined;
      const lease = parseLease(out.Item);
      if (!lease)
        throw new LeaseStoreError("read", "MalformedItem", "error", JSON.stringify(out.Item));
      return lease;
    } catch (error) {
      if (error instanceof LeaseStoreError) throw error;
      throw this.#failed("read", error, signal);
    }
  }

  /**
   * Takes `side` for `holder` until `now + ttlMs`. Succeeds when there is no lease, when the
   * stored one expired before `now - skewMs` (then with the next epoch: 1 for the first, or
   * `epochFloor + 1`), or
   * when it is already `holder`'s and still running (then with its epoch: a claim whose answer
   * was lost may be sent again). One UpdateItem, whose condition and epoch increment DynamoDB
   * evaluates atomically on the item, so of any number of concurrent claimers at most one
   * wins. A second UpdateItem only for a lease still ours, conditional on holder and epoch.
   */
  async claim(
    side: string,
    holder: string,
    ttlMs: number,
    now: number,
    { signal, skewMs = 0, epochFloor = 0 }: CallOptions & ClaimOptions,
  ): Promise<ClaimResult> {
    const fresh = await this.#update("claim", signal, {
      UpdateExpression:
        "SET #holder = :me, #expiresAt = :exp, #expires = :gc, #epoch = if_not_exists(#epoch, :floor) + :one",
      ConditionExpression: "attribute_not_exists(#side) OR #expiresAt < :cutoff",
      ExpressionAttributeNames: NAMES,
      ExpressionAttributeValues: {
        ":me": S(holder),
        ":exp": N(now + ttlMs),
        ":gc": N(gcAt(now + ttlMs)),
        ":floor": N(epochFloor),
        ":one": N(1),
        ":cutoff": N(now - skewMs),
      },
      Key: { side: S(side) },
    });
    if (fresh.ok || fresh.current?.holder !== holder) return fresh;
    // Ours and running: renew it under its epoch, unless it changed in between.
    return this.#update("reclaim", signal, {
      ...renewal(side, holder, fresh.current.epoch, now + ttlMs),
    });
  }

  /** Extends `holder`'s lease at `epoch` to `now + ttlMs`; refused once either changed. */
  renew(
    side: string,
    holder: string,
    epoch: number,
    ttlMs: number,
    now: number,
    { signal }: CallOptions,
  ): Promise<RenewResult> {
    return this.#update("renew", signal, renewal(side, holder, epoch, now + ttlMs));
  }

  /**
   * Ends `holder`'s lease at `epoch` now (expiresAt 0), keeping the epoch, so that the next
   * claim, by anyone, gets the next one.
   */
  async release(
    side: string,
    holder: string,
    epoch: number,
    { signal }: CallOptions,
  ): Promise<ReleaseResult> {
    const r = await this.#update("release", signal, {
      Key: { side: S(side) },
      UpdateExpression: "SET #expiresAt = :zero",
      ConditionExpression: "#holder = :me AND #epoch = :epoch",
      ExpressionAttributeNames: pick("#expiresAt", "#holder", "#epoch"),
      ExpressionAttributeValues: { ":me": S(holder), ":epoch": N(epoch), ":zero": N(0) },
    });
    return r.ok ? { ok: true } : r;
  }

  async #update(
    operation: LeaseOperation,
    signal: AbortSignal,
    input: Omit<UpdateItemCommandInput, "TableName">,
  ): Promise<{ ok: true; lease: Lease } | { ok: false; current?: Lease }> {
    let out: UpdateItemCommandOutput;
    try {
      out = await this.client.send(
        new UpdateItemCommand({
          TableName: this.table,
          ReturnValues: "ALL_NEW",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ...input,
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        this.calls.record(operation, "conditional-failed");
        const current = parseLease(error.Item);
        return current ? { ok: false, current } : { ok: false };
      }
      throw this.#failed(operation, error, signal);
    }
    this.calls.record(operation, "ok");
    const lease = parseLease(out.Attributes);
    if (!lease)
      throw new LeaseStoreError(
        operation,
        "MalformedItem",
        "error",
        `DynamoDB returned ${JSON.stringify(out.Attributes)}`,
      );
    return { ok: true, lease };
  }

  #failed(operation: LeaseOperation, error: unknown, signal: AbortSignal): LeaseStoreError {
    const e = failure(operation, error, signal);
    this.calls.record(operation, e.outcome);
    return e;
  }
}

function renewal(
  side: string,
  holder: string,
  epoch: number,
  expiresAt: number,
): Omit<UpdateItemCommandInput, "TableName"> {
  return {
    Key: { side: S(side) },
    UpdateExpression: "SET #expiresAt = :exp, #expires = :gc",
    ConditionExpression: "#holder = :me AND #epoch = :epoch",
    ExpressionAttributeNames: pick("#expiresAt", "#expires", "#holder", "#epoch"),
    ExpressionAttributeValues: {
      ":me": S(holder),
      ":epoch": N(epoch),
      ":exp": N(expiresAt),
      ":gc": N(gcAt(expiresAt)),
    },
  };
}

/** The TTL attribute: epoch seconds, a week after the lease expires. */
function gcAt(expiresAt: number): number {
  return Math.floor(expiresAt / 1000) + GC_AFTER_S;
}
