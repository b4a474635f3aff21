import { createApiKeyCheck } from "../access/api-keys";
import { jsonResponse, type CoreRequest, type CoreResponse } from "../http/core";
import type { Endpoint, ServiceContext } from "../http/endpoint";
import { problemResponse } from "../http/problems";

/** What operators and platforms ask: readiness (/health), the model card (/model), Prometheus (/metrics). */
export function operationRoutes(ctx: ServiceContext): Endpoint[] {
  const { holder, cache, metrics, instanceId } = ctx;
  // The same constant-time comparison as API keys; the token arrives as `Authorization: Bearer <token>`.
  const metricsTokenOk = createApiKeyCheck(ctx.config.METRICS_TOKEN);

  async function health(): Promise<CoreResponse> {
    holder.get();
    const state = holder.state;
    const cacheInfo = { backend: cache.backend, status: cache.status() };
    const uptime = Math.round((ctx.now() - ctx.startedAt) / 1000);
    if (state.state !== "ready") {
      const reason = state.state === "loading" ? (state.reason ?? "model loading") : state.reason;
      return jsonResponse(
        503,
        { status: "unavailable", instance_id: instanceId, reason, cache: cacheInfo, uptime_seconds: uptime },
        { "retry-after": "5" },
      );
    }
    const { name, version, source, sha256, engine } = state.info;
    return jsonResponse(200, {
      status: "healthy",
      instance_id: instanceId,
      model: { name, version, source, sha256, engine },
      cache: cacheInfo,
      uptime_seconds: uptime,
    });
  }

  async function modelCard(): Promise<CoreResponse> {
    const state = holder.state;
    if (state.state !== "ready") {
      return problemResponse({
        code: "model_unavailable",
        detail: `The model is not loaded: ${state.reason ?? "loading"}`,
      });
    }
    return jsonResponse(200, { source: state.info.source, engine: state.info.engine, card: state.info.card });
  }

  async function prometheus(req: CoreRequest): Promise<CoreResponse> {
    if (metricsTokenOk && !metricsTokenOk(req.headers)) {
      return problemResponse({
        code: "unauthorized",
        detail: "GET /metrics needs Authorization: Bearer <METRICS_TOKEN>",
      });
    }
    return {
      status: 200,
      headers: { "content-type": metrics.registry.contentType },
      body: await metrics.registry.metrics(),
    };
  }

  return [
    { name: "health", method: "GET", route: "/health", handler: health },
    { name: "model_card", method: "GET", route: "/model", handler: modelCard },
    { name: "metrics", method: "GET", route: "/metrics", handler: prometheus },
  ];
}
