import path from "node:path";
import type { CoreResponse } from "../http/core";
import type { Endpoint, ServiceContext } from "../http/endpoint";
import { problemResponse } from "../http/problems";
import { staticFolder, staticResponse } from "../http/static-files";

/**
 * The /app page (web/, built into <static root>/app): GET /app is its markup, GET /app/{*asset} its script,
 * style and map data. `/` stays a 404. Every file is revalidated (no-cache + ETag) so a deployment's new
 * script never meets an old page; the CSP allows nothing inline and nothing from another origin.
 */
const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const PAGE_HEADERS: Record<string, string> = {
  "cache-control": "no-cache",
  "content-security-policy": PAGE_CSP,
  "referrer-policy": "no-referrer",
};

export function pageRoutes(ctx: ServiceContext): Endpoint[] {
  const files = staticFolder(path.join(ctx.staticRoot, "app"));
  const serve = (name: string, headers: Record<string, string | undefined>): CoreResponse | undefined => {
    const file = files.get(name);
    return file && staticResponse(file, headers, PAGE_HEADERS);
  };
  return [
    {
      name: "app_page",
      method: "GET",
      route: "/app",
      handler: async (req) =>
        serve("index.html", req.headers) ??
        problemResponse({
          code: "not_found",
          detail: `The page is not built (no ${path.join(files.dir, "index.html")}): run npm run build`,
        }),
    },
    {
      name: "app_assets",
      method: "GET",
      route: "/app/{*asset}",
      // Only names the build wrote are served: anything else, "../" included, is not in the folder's list.
      handler: async (req) => serve(assetName(req.params?.asset ?? ""), req.headers) ?? ctx.notFound(),
    },
  ];
}

/** The file name in /app/<name>; a malformed escape is simply a name that is not there. */
function assetName(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return "";
  }
}
