import type { Endpoint, ServiceContext } from "../http/endpoint";
import { openApiDocument } from "../docs/openapi";
import { docsAsset, docsPage } from "../docs/swagger-ui";

/** The API's documentation: the OpenAPI document and the Swagger UI page with its assets, all served locally. */
export function docsRoutes(ctx: ServiceContext): Endpoint[] {
  // Built on the first request for it, once per service (it carries this configuration's limits).
  let openApi: string | undefined;
  return [
    {
      name: "openapi",
      method: "GET",
      route: "/openapi.json",
      handler: async () => ({
        status: 200,
        headers: { "content-type": "application/json" },
        body: (openApi ??= openApiDocument(ctx.config)),
      }),
    },
    { name: "docs", method: "GET", route: "/docs", handler: async () => docsPage() },
    {
      name: "docs_assets",
      method: "GET",
      route: "/docs/{asset}",
      handler: async (req) => docsAsset(req.params?.asset ?? "") ?? ctx.legacy(404, { error: "API not found." }),
    },
  ];
}
