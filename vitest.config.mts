import { defineConfig } from "vitest/config";

// Three projects, one folder each (tests/support is shared):
//   unit         no child processes, servers or network: the inner loop (`npm run test:unit`, a few seconds)
//   integration  redis-server, Azurite, real HTTP servers, spawned built servers (`npm run test:integration`)
//   deploy       kustomize, shellcheck, Bicep/ARM checks, the deployable artifact (`npm run test:deploy`)
// `npm test` runs all three.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    fileParallelism: true,
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: "unit", include: ["tests/unit/**/*.test.ts"] } },
      { extends: true, test: { name: "integration", include: ["tests/integration/**/*.test.ts"] } },
      { extends: true, test: { name: "deploy", include: ["tests/deploy/**/*.test.ts"] } },
    ],
  },
});
