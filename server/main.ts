import { createService } from "../shared/service";
import { findAppRoot } from "../shared/app-root";
import { getConfig, type Config } from "../shared/ops/config";
import { createHttpServer } from "./http";

async function main(): Promise<void> {
  let config: Config;
  try {
    config = getConfig();
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  const service = createService({ config, appRoot: findAppRoot(__dirname) });
  const { logger } = service;
  // Load now rather than on the first request, so /health turns 200 as soon as the model is ready.
  void service.holder.load().catch(() => undefined);
  const host = createHttpServer(service);
  const port = await host.listen(config.PORT, config.HOST);
  logger.info("listening", { port, host: config.HOST, instance_id: service.instanceId, cache: service.cache.backend });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info("draining", { signal, timeout_ms: config.SHUTDOWN_TIMEOUT_MS });
    const result = await host.drain(config.SHUTDOWN_TIMEOUT_MS);
    await service.close().catch(() => undefined);
    logger.info("stopped", { completed: result.completed, abandoned: result.inflight });
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

void main();
