/** Ids per request: keeps each filter's value list and each answer small. */
const IDS_PER_REQUEST = 100;

export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Runs `page` over `ids` (deduplicated) in chunks of 100, following NextToken. `page` consumes
 * one answer and returns its NextToken.
 */
export async function pagedById(
  ids: string[],
  page: (chunk: string[], nextToken: string | undefined) => Promise<string | undefined>,
): Promise<void> {
  for (const chunk of chunks([...new Set(ids)], IDS_PER_REQUEST)) {
    let nextToken: string | undefined;
    do nextToken = await page(chunk, nextToken);
    while (nextToken);
  }
}
