/**
 * Cooperative scheduling for big requests. `await nextTurn()` resumes in a later event-loop iteration,
 * and at most one waiter resumes per iteration, so the heavy steps of concurrent bulks (parsing,
 * cache lookups, cache fills, serialisation) take turns with I/O instead of running back to back:
 * a /health or /predict that arrives meanwhile waits for one step, not for all of them.
 */
const waiting: (() => void)[] = [];
let scheduled = false;

function release(): void {
  waiting.shift()?.();
  if (waiting.length > 0) setImmediate(release);
  else scheduled = false;
}

export function nextTurn(): Promise<void> {
  return new Promise((resolve) => {
    waiting.push(resolve);
    if (!scheduled) {
      scheduled = true;
      setImmediate(release);
    }
  });
}

/** Requests at least this big (rows or bytes) take turns; smaller ones run straight through. */
export const BIG_ROWS = 1000;
export const BIG_BYTES = 128 * 1024;
