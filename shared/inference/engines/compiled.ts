/** A compile step's result: the compiled value, or why the graph is outside what the compiler takes. */
export type Compiled<T> = { ok: true; value: T } | { ok: false; reason: string };
