// What scripts/build.mjs and scripts/package.mjs share.

/** The files of swagger-ui-dist that /docs serves (and its licence); nothing else of the package reaches dist/. */
export const SWAGGER_UI_FILES = [
  "swagger-ui.css",
  "swagger-ui-bundle.js",
  "swagger-ui-standalone-preset.js",
  "favicon-32x32.png",
  "favicon-16x16.png",
  "LICENSE",
];

/**
 * Modules the service loads only when configured (Redis, Upstash, Blob Storage, rate limits). The development
 * bundles leave them in node_modules; the package bundles each into vendor/<name>.js, loaded on first use, so the
 * default path never parses them.
 */
export const LAZY_MODULES = {
  redis: "redis.js",
  "@upstash/redis": "upstash-redis.js",
  "@upstash/ratelimit": "upstash-ratelimit.js",
  "rate-limiter-flexible": "rate-limiter-flexible.js",
  "@azure/storage-blob": "azure-storage-blob.js",
  "@azure/identity": "azure-identity.js",
};

export const COMMON = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  minifySyntax: true,
  legalComments: "none",
  logLevel: "warning",
};
