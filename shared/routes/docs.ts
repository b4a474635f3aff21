import type { Endpoint, ServiceContext } from "../http/endpoint";
import { openApiDocument } from "../docs/openapi";
import { swaggerUi } from "../docs/swagger-ui";

/** The API's documentation: the OpenAPI document and the Swagger UI page with its assets, all served locally. */
export function docsRoutes(ctx: ServiceContext): Endpoint[] {
  // Built on the first request for it, once per service (it carries this configuration's limits).
  let openApi: string | undefined;
  const ui = swaggerUi(ctx.staticRoot);
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
    { name: "docs", method: "GET", route: "/docs", handler: async () => ui.page() },
    {
      name: "docs_assets",
      method: "GET",
      route: "/docs/{asset}",
      handler: async (req) => ui.asset(req.params?.asset ?? "") ?? ctx.notFound(),
    },
  ];
}
