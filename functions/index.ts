import { app } from "@azure/functions";
import { createService } from "../shared/service";
import { findAppRoot } from "../shared/app-root";
import { getConfig } from "../shared/ops/config";
import { azureRoute, endpointHandler, fallbackHandler } from "./adapter";

// Settings are read at start so that a bad one fails the host's start with a message that names it.
const { FUNCTION_AUTH_LEVEL } = getConfig();

// One service per worker process, created when the host imports this file: registering the functions needs its
// endpoint list. The model starts loading right away, in the background, so a cold start loads it while the host
// starts rather than on the first request (which would wait for it, up to MODEL_STORE_TIMEOUT_MS).
const service = createService({ config: getConfig(), appRoot: findAppRoot(__dirname) });
void service.holder.load().catch(() => undefined);
const current = () => service;

for (const endpoint of service.endpoints) {
  app.http(endpoint.name, {
    methods: [endpoint.method],
    route: azureRoute(endpoint),
    // Function keys are a config choice for the prediction functions; probes, docs and metrics stay open.
    authLevel: endpoint.apiKey ? FUNCTION_AUTH_LEVEL : "anonymous",
    handler: endpointHandler(current, endpoint),
  });
}

app.http("not_found", {
  methods: ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
  route: "{*path}",
  authLevel: "anonymous",
  handler: fallbackHandler(current),
});
