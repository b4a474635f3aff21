// The small part of autocannon 9's programmatic API the benches use (bench/cache-faults.ts, bench/soak.ts); the package ships no types.
declare module "autocannon" {
  import type { EventEmitter } from "node:events";

  namespace autocannon {
    interface RequestSpec {
      method?: string;
      path?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
      /** Called before each request is built; the context is per connection. */
      setupRequest?: (req: RequestSpec, context: Record<string, unknown>) => RequestSpec | undefined;
    }

    interface Options {
      url: string;
      connections?: number;
      pipelining?: number;
      duration?: number;
      amount?: number;
      maxConnectionRequests?: number;
      timeout?: number;
      /** Reconnect each connection after this many requests. */
      reconnectRate?: number;
      sampleInt?: number;
      workers?: number;
      method?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
      requests?: RequestSpec[];
      excludeErrorStats?: boolean;
    }

    interface Client {
      requestIterator: { context: Record<string, unknown> };
    }

    interface Result {
      duration: number;
      errors: number;
      timeouts: number;
      non2xx: number;
      resets: number;
      statusCodeStats: Record<string, { count: number }>;
    }

    interface Instance extends EventEmitter, PromiseLike<Result> {
      stop(): void;
      on(event: "response", fn: (client: Client, status: number, bytes: number, ms: number) => void): this;
      on(event: "reqError", fn: (err: Error) => void): this;
      on(event: "start" | "done", fn: () => void): this;
    }
  }

  function autocannon(opts: autocannon.Options): autocannon.Instance;
  export = autocannon;
}
