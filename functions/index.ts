import path from "node:path";
import { app } from "@azure/functions";
import { createService, type Service } from "../shared/app";
import { findAppRoot } from "../shared/app-root";
import { getConfig } from "../shared/config";
import { azureRoute, endpointHandler, fallbackHandler } from "./adapter";

let service: Service | undefined;

/** One service per worker process, created on first use; the model loads in the background from then on. */
function getService(): Service {
  if (!service) {
    // dist/functions/index.js serves the page the build wrote to dist/static.
    service = createService({
      config: getConfig(),
      appRoot: findAppRoot(__dirname),
      staticRoot: path.join(__dirname, "../static"),
    });
    void service.holder.load().catch(() => undefined);
  }
  return service;
}

// Settings are read at start so that a bad one fails the host's start with a message that names it.
const { FUNCTION_AUTH_LEVEL } = getConfig();
// Endpoint definitions don't depend on the model; building them does not load it.
for (const endpoint of getService().endpoints) {
  app.http(endpoint.name, {
    methods: [endpoint.method],
    route: azureRoute(endpoint),
    // Function keys are a config choice for the prediction functions; probes, docs and metrics stay open.
    authLevel: endpoint.apiKey ? FUNCTION_AUTH_LEVEL : "anonymous",
    handler: endpointHandler(getService, endpoint),
  });
}

app.http("not_found", {
  methods: ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
  route: "{*path}",
  authLevel: "anonymous",
  handler: fallbackHandler(getService),
});
