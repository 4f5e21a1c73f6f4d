import { CreateTagsCommand, DeleteTagsCommand, type Tag } from "@aws-sdk/client-ec2";
import {
  FENCE_KEY_PREFIX,
  type FenceValue,
  fenceKey,
  formatFence,
  LEGACY_FENCE_TAGS,
  parseFence,
} from "../fleet/fence-tags.ts";
import type { CallGuard, Ec2 } from "./client.ts";
import { chunks } from "./paging.ts";

/** The fence tags a route table carries, read from its tags. */
export interface TableFences {
  /** Per fence tag key (fenceKey(connection, pair)): that side's decision. */
  sides: Record<string, FenceValue>;
  /** The shared fence of swanpair 0.1, if the table still carries a complete one. */
  legacy?: FenceValue;
}

export function readFences(tags: Tag[]): TableFences {
  const sides: Record<string, FenceValue> = {};
  for (const { Key, Value } of tags) {
    if (!Key?.startsWith(FENCE_KEY_PREFIX)) continue;
    const fence = parseFence(Value);
    if (fence) sides[Key] = fence;
  }
  const value = (key: string) => tags.find((t) => t.Key === key)?.Value;
  const active = value(LEGACY_FENCE_TAGS.active);
  const epoch = Number(value(LEGACY_FENCE_TAGS.epoch));
  const at = value(LEGACY_FENCE_TAGS.at);
  const legacy = active && at && Number.isSafeInteger(epoch) ? { active, epoch, at } : undefined;
  return legacy ? { sides, legacy } : { sides };
}

/** A side's fence on one table: its own tag, else the legacy tags (read once, then replaced). */
export function sideFence(
  fences: TableFences | undefined,
  connection: string,
  pair: string,
): FenceValue | undefined {
  return fences?.sides[fenceKey(connection, pair)] ?? fences?.legacy;
}

/**
 * Records a side's decision on `tables` under the side's own key, one CreateTags per 1000
 * tables (EC2's per-call maximum). `dryRun` asks EC2 whether it would allow the write.
 */
export async function writeFence(
  ec2: Ec2,
  tables: string[],
  side: { connection: string; pair: string },
  fence: FenceValue,
  opts: { guard?: CallGuard; dryRun?: boolean } = {},
): Promise<void> {
  const Tags = [{ Key: fenceKey(side.connection, side.pair), Value: formatFence(fence) }];
  for (const Resources of chunks(tables, 1000)) {
    await ec2.call(
      "CreateTags",
      (sdk, o) => sdk.send(new CreateTagsCommand({ Resources, Tags, DryRun: opts.dryRun }), o),
      opts.guard,
    );
  }
}

/** Removes the legacy fence tags from `tables`, once each table's sides all have their own. */
export async function removeLegacyFences(ec2: Ec2, tables: string[]): Promise<void> {
  const Tags = Object.values(LEGACY_FENCE_TAGS).map((Key) => ({ Key }));
  for (const Resources of chunks(tables, 1000)) {
    await ec2.call("DeleteTags", (sdk, o) =>
      sdk.send(new DeleteTagsCommand({ Resources, Tags }), o),
    );
  }
}
