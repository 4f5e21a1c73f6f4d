/**
 * Wraps `task` so that calls made while it runs collapse into one more run after it: however
 * many calls a burst makes, at most one run is in flight and one is queued. A caller's promise
 * settles with the first run that starts after its call, so it sees state at least that new.
 */
export function coalesce(task: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  const run = (): Promise<void> => {
    running = task().finally(() => {
      running = undefined;
    });
    return running;
  };
  return () => {
    if (!running) return run();
    queued ??= running
      .catch(() => {})
      .then(() => {
        queued = undefined;
        return run();
      });
    return queued;
  };
}
