# syntax=docker/dockerfile:1
#
# House-price inference API: the standalone Node HTTP server (dist/server/main.js) in a small
# glibc image (onnxruntime-node ships glibc binaries, so no alpine/musl).
#
#   docker build -t house-price-api:dev .
#   docker run --rm -p 8000:8000 house-price-api:dev
#
# Stage 1 (build) installs every dependency and bundles the TypeScript with esbuild.
# Stage 2 (runtime) installs production dependencies only (onnxruntime-node is external to the
# bundle), drops the onnxruntime binaries of other platforms, and runs as a non-root user.
# No HEALTHCHECK: Kubernetes probes GET /health (startup, readiness, liveness).

ARG NODE_IMAGE=node:22-bookworm-slim

############################ build ############################
FROM ${NODE_IMAGE} AS build
WORKDIR /src

# .npmrc carries onnxruntime-node-install=skip: its install script would download CUDA files.
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund

COPY . .
RUN npm run build \
 && test -f dist/server/main.js \
 && test -f dist/functions/index.js

############################ runtime ############################
FROM ${NODE_IMAGE} AS runtime

# amd64 or arm64, set by BuildKit from --platform.
ARG TARGETARCH=amd64

ENV NODE_ENV=production \
    PORT=8000

WORKDIR /app

# Production dependencies only. Scripts are skipped: onnxruntime-node's binaries are in its npm
# package (bin/napi-v*/<os>/<arch>/), its install script only fetches optional CUDA libraries.
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && case "${TARGETARCH}" in amd64) ort_arch=x64 ;; arm64) ort_arch=arm64 ;; *) echo "unsupported TARGETARCH ${TARGETARCH}" >&2; exit 1 ;; esac \
 && ort_bin=node_modules/onnxruntime-node/bin \
 && for napi in "${ort_bin}"/napi-v*; do \
      find "${napi}" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} + ; \
      find "${napi}/linux" -mindepth 1 -maxdepth 1 ! -name "${ort_arch}" -exec rm -rf {} + ; \
      test -f "${napi}/linux/${ort_arch}/onnxruntime_binding.node" ; \
    done \
 && groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app

COPY --from=build /src/dist ./dist
# The bundled model and its card; MODEL_PATH defaults to model/model.onnx relative to /app.
# On AKS the model can instead come from Blob Storage (MODEL_BLOB_URL, workload identity).
COPY model/model.onnx model/model.json model/intervals.onnx ./model/

# Numeric user so the kubelet can verify runAsNonRoot.
USER 10001:10001

EXPOSE 8000

# V8 heap caps (server/node-flags.ts explains them; the same flags as `npm start` and the Function App).
ENV NODE_OPTIONS="--max-semi-space-size=4 --max-old-space-size=128" \
    MALLOC_ARENA_MAX=2

# SIGTERM goes straight to node (PID 1), which drains for SHUTDOWN_TIMEOUT_MS and exits.
CMD ["node", "dist/server/main.js"]
