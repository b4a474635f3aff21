# syntax=docker/dockerfile:1
#
# House-price inference API: the standalone Node HTTP server of dist/package/ (scripts/package.mjs) in a small
# glibc image (onnxruntime-node ships glibc binaries, so no alpine/musl).
#
#   docker build -t house-price-api:dev .
#   docker build --platform linux/arm64 -t house-price-api:arm64 .
#   docker run --rm -p 8000:8000 house-price-api:dev
#
# Stage 1 (build) installs every dependency and writes dist/package/: both hosts bundled with every pure-JS
# dependency, the models, the Swagger UI files, and onnxruntime-node trimmed to linux/<target arch>.
# Stage 2 (runtime) is that folder and nothing else: no npm, no node_modules beyond onnxruntime's binding.
# No HEALTHCHECK: Kubernetes probes GET /health (startup, readiness, liveness).

ARG NODE_IMAGE=node:22-bookworm-slim

############################ build ############################
# Runs on the build machine's platform; the target arch only picks which onnxruntime binding is packaged.
FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS build
ARG TARGETARCH=amd64
WORKDIR /src

# No install script runs (.npmrc ignore-scripts=true); the variable also keeps onnxruntime-node's CUDA download off
# should a build override that. Its CPU binaries ship in the npm package.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund

COPY . .
RUN case "${TARGETARCH}" in amd64) ort_arch=x64 ;; arm64) ort_arch=arm64 ;; *) echo "unsupported TARGETARCH ${TARGETARCH}" >&2; exit 1 ;; esac \
 && npm run package -- "--arch=${ort_arch}"

############################ runtime ############################
FROM ${NODE_IMAGE} AS runtime

ENV NODE_ENV=production \
    PORT=8000

WORKDIR /app

RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app

# The package: server/main.js, functions/index.js, vendor/, model/ (MODEL_PATH defaults to model/model.onnx),
# static/, node_modules/onnxruntime-*. On AKS the model can instead come from Blob Storage (MODEL_BLOB_URL).
COPY --from=build /src/dist/package ./

# Numeric user so the kubelet can verify runAsNonRoot.
USER 10001:10001

EXPOSE 8000

# V8 heap caps and glibc malloc settings (server/node-flags.ts explains them; the same as the Function App).
ENV NODE_OPTIONS="--max-semi-space-size=4 --max-old-space-size=128" \
    MALLOC_ARENA_MAX=2 \
    MALLOC_TRIM_THRESHOLD_=1048576

# SIGTERM goes straight to node (PID 1), which drains for SHUTDOWN_TIMEOUT_MS and exits.
CMD ["node", "server/main.js"]
