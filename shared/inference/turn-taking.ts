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

/**
 * Runs `fn` after a turn when `rows` make a big request, else in the next iteration: the batcher's default
 * continuation of a started job (shared/inference/batcher.ts), so a big job's next chunk waits with the other heavy steps.
 */
export function afterTurnIfBig(fn: () => void, rows: number): void {
  if (rows >= BIG_ROWS) void nextTurn().then(fn);
  else setImmediate(fn);
}
