#!/usr/bin/env bash
# Deploy k8s-keda to AKS, with the image pinned to a commit tag.
#
#   RESOURCE_GROUP=rg-x AKS_NAME=aks-x ACR_NAME=acrx WORKLOAD_CLIENT_ID=<guid> \
#   MODEL_BLOB_URL=https://<acct>.blob.core.windows.net/models/house-price/current/model.onnx \
#   scripts/aks-deploy.sh
#
# Values not given are read from the azd environment when azd is installed (outputs of infra/bicep/main.bicep
# deployed with deployAks=true): AZURE_RESOURCE_GROUP, AKS_CLUSTER_NAME, AZURE_CONTAINER_REGISTRY_NAME,
# AKS_WORKLOAD_IDENTITY_CLIENT_ID, MODEL_BLOB_URL.
#
# Environment:
#   IMAGE_TAG             image tag (default: `git rev-parse --short HEAD`, what scripts/acr-build-push.sh pushed)
#   ACR_LOGIN_SERVER      registry host (default: from ACR_NAME)
#   OVERLAY               prod (default) or prod-canary (adds the header-routed model canary)
#   CANARY_MODEL_BLOB_URL the candidate model.onnx (required with OVERLAY=prod-canary)
#   REDIS_MODE            in-cluster (default; the Redis component with its init-container waits) or managed
#                         (default when REDIS_URL is set: no Redis pods, no waits)
#   REDIS_URL             the managed Redis, written to Secret house-price-api-redis (e.g. Azure Managed Redis:
#                         rediss://:<access-key>@<name>.<region>.redis.azure.net:10000)
#   PUBLIC_HOST           extra Host header routed by the InterceptorRoutes (your Ingress/Gateway host)
#   API_KEYS, METRICS_TOKEN, UPSTASH_REDIS_REST_URL, UPSTASH_REDIS_REST_TOKEN
#                         when set, written to Secret house-price-api-secrets (read by the pods via envFrom);
#                         every API Deployment (stable and canary) is restarted to read them
#   INSTALL_KEDA=1        install the pinned KEDA + HTTP add-on charts first (scripts/keda.sh install)
#   SCRAPE_CONFIG         apply (default): give Azure Monitor managed Prometheus the scrape job of
#                         monitoring/prometheus-scrape-config.yaml (ConfigMap kube-system/ama-metrics-prometheus-config,
#                         never overwriting one this project did not create); skip: leave it alone
#   ROLLOUT_TIMEOUT       default 300s
#   RENDER_ONLY=1         print the rendered manifests and exit: no Azure, no cluster (used by tests/deploy)
#
# Before applying, the script stops unless the cluster runs KEDA >= 2.17 and the HTTP add-on >= 0.15
# (scripts/keda.sh check; docs/DEPLOYMENT.md explains why).
# The manifests are rendered without editing the repository: a temporary overlay on top of the chosen one
# sets the image, identity client id, model URL(s), hosts and Redis URL, then `kubectl apply` applies the result.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAMESPACE="w255"
OVERLAY="${OVERLAY:-prod}"
ROLLOUT_TIMEOUT="${ROLLOUT_TIMEOUT:-300s}"
RENDER_ONLY="${RENDER_ONLY:-0}"
# Image name used by the committed AKS overlays; the temporary overlay retargets it.
COMMITTED_IMAGE="w255acr.azurecr.io/house-price-api"

die() {
  echo "aks-deploy: $*" >&2
  exit 1
}

azd_value() {
  if command -v azd >/dev/null 2>&1; then
    azd env get-value "$1" 2>/dev/null || true
  fi
}

case "${OVERLAY}" in
  prod | prod-canary) ;;
  *) die "OVERLAY must be prod or prod-canary" ;;
esac
if [[ -n "${REDIS_URL:-}" ]]; then
  REDIS_MODE="${REDIS_MODE:-managed}"
else
  REDIS_MODE="${REDIS_MODE:-in-cluster}"
fi
case "${REDIS_MODE}" in
  in-cluster)
    [[ -z "${REDIS_URL:-}" ]] ||
      die "REDIS_URL is set but REDIS_MODE=in-cluster: the in-cluster Redis needs no URL (use REDIS_MODE=managed)"
    OVERLAY_DIR="${OVERLAY}"
    ;;
  managed)
    [[ -n "${REDIS_URL:-}" ]] || die "REDIS_MODE=managed needs REDIS_URL (rediss://:<key>@<host>:<port>)"
    [[ "${REDIS_URL}" =~ ^rediss?:// ]] || die "REDIS_URL must start with redis:// or rediss://"
    OVERLAY_DIR="${OVERLAY}-managed-redis"
    ;;
  *) die "REDIS_MODE must be in-cluster or managed" ;;
esac
if [[ "${OVERLAY}" == "prod-canary" ]]; then
  [[ -n "${CANARY_MODEL_BLOB_URL:-}" ]] ||
    die "OVERLAY=prod-canary needs CANARY_MODEL_BLOB_URL (https://<account>.blob.core.windows.net/models/house-price/<version>/model.onnx)"
  [[ "${CANARY_MODEL_BLOB_URL}" == https://* ]] || die "CANARY_MODEL_BLOB_URL must be an https:// URL"
fi
if [[ -n "${PUBLIC_HOST:-}" ]]; then
  [[ "${PUBLIC_HOST}" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$ ]] ||
    die "PUBLIC_HOST must be a lower-case DNS name without scheme or port (got '${PUBLIC_HOST}')"
fi
command -v kubectl >/dev/null 2>&1 || die "kubectl is required"

if [[ "${RENDER_ONLY}" != "1" ]]; then
  command -v az >/dev/null 2>&1 || die "az is required"
  RESOURCE_GROUP="${RESOURCE_GROUP:-$(azd_value AZURE_RESOURCE_GROUP)}"
  AKS_NAME="${AKS_NAME:-$(azd_value AKS_CLUSTER_NAME)}"
  ACR_NAME="${ACR_NAME:-$(azd_value AZURE_CONTAINER_REGISTRY_NAME)}"
  WORKLOAD_CLIENT_ID="${WORKLOAD_CLIENT_ID:-$(azd_value AKS_WORKLOAD_IDENTITY_CLIENT_ID)}"
  MODEL_BLOB_URL="${MODEL_BLOB_URL:-$(azd_value MODEL_BLOB_URL)}"
  [[ -n "${RESOURCE_GROUP}" ]] || die "set RESOURCE_GROUP"
  [[ -n "${AKS_NAME}" ]] || die "set AKS_NAME"
  if [[ -z "${ACR_LOGIN_SERVER:-}" ]]; then
    [[ -n "${ACR_NAME}" ]] || die "set ACR_NAME or ACR_LOGIN_SERVER"
    ACR_LOGIN_SERVER="$(az acr show --name "${ACR_NAME}" --query loginServer --output tsv)"
  fi
fi

IMAGE_TAG="${IMAGE_TAG:-$(git -C "${ROOT}" rev-parse --short HEAD)}"
[[ -n "${ACR_LOGIN_SERVER:-}" ]] || die "set ACR_LOGIN_SERVER (or ACR_NAME)"
[[ -n "${WORKLOAD_CLIENT_ID:-}" ]] || die "set WORKLOAD_CLIENT_ID (client id of the workload identity)"
[[ -n "${MODEL_BLOB_URL:-}" ]] || die "set MODEL_BLOB_URL"
[[ "${IMAGE_TAG}" != "latest" ]] || die "refusing to deploy the tag 'latest': use a commit tag"
[[ "${ACR_LOGIN_SERVER}" == *.azurecr.io ]] || die "ACR_LOGIN_SERVER must be an Azure Container Registry host (*.azurecr.io)"

# ---- render: a temporary overlay over a copy of k8s-keda (relative paths keep working) ----
WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT
cp -R "${ROOT}/k8s-keda" "${WORK}/k8s-keda"
DEPLOY_DIR="${WORK}/k8s-keda/overlays/deploy"
mkdir -p "${DEPLOY_DIR}"

# The temporary kustomization; `write_overlay with-host` also routes PUBLIC_HOST.
write_overlay() {
  cat <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ${NAMESPACE}
resources:
  - ../${OVERLAY_DIR}
images:
  - name: ${COMMITTED_IMAGE}
    newName: ${ACR_LOGIN_SERVER}/house-price-api
    newTag: "${IMAGE_TAG}"
configMapGenerator:
  - name: house-price-api-config
    behavior: merge
    literals:
      - MODEL_BLOB_URL=${MODEL_BLOB_URL}
EOF
  if [[ "${OVERLAY}" == "prod-canary" ]]; then
    cat <<EOF
  - name: house-price-api-canary-config
    behavior: merge
    literals:
      - MODEL_BLOB_URL=${CANARY_MODEL_BLOB_URL}
EOF
  fi
  if [[ "${REDIS_MODE}" == "managed" ]]; then
    # The URL comes from a file (not the kustomization) so its password never appears in a command line.
    cat <<'EOF'
secretGenerator:
  - name: house-price-api-redis
    behavior: replace
    envs:
      - redis.env
EOF
  fi
  cat <<EOF
patches:
  - target:
      kind: ServiceAccount
      name: house-price-api
    patch: |-
      - op: replace
        path: /metadata/annotations/azure.workload.identity~1client-id
        value: "${WORKLOAD_CLIENT_ID}"
EOF
  if [[ "${1:-}" == "with-host" ]]; then
    cat <<EOF
  - target:
      group: http.keda.sh
      kind: InterceptorRoute
    patch: |-
      - op: add
        path: /spec/rules/0/hosts/-
        value: "${PUBLIC_HOST}"
EOF
  fi
}

if [[ "${REDIS_MODE}" == "managed" ]]; then
  (
    umask 077
    printf 'REDIS_URL=%s\n' "${REDIS_URL}" >"${DEPLOY_DIR}/redis.env"
  )
fi
RENDERED="${WORK}/rendered.yaml"
write_overlay >"${DEPLOY_DIR}/kustomization.yaml"
kubectl kustomize "${DEPLOY_DIR}" >"${RENDERED}"
# InterceptorRoute hosts are a set (the API server rejects a duplicate): add PUBLIC_HOST only when the
# committed overlays do not route it already. (grep reads all its input, without -q: an early exit would
# SIGPIPE sed and, under pipefail, read as "not found".)
if [[ -n "${PUBLIC_HOST:-}" ]] && ! sed -e 's/^[[:space:]]*- //' -e 's/"//g' "${RENDERED}" | grep -xF -- "${PUBLIC_HOST}" >/dev/null; then
  write_overlay with-host >"${DEPLOY_DIR}/kustomization.yaml"
  kubectl kustomize "${DEPLOY_DIR}" >"${RENDERED}"
fi

if [[ "${RENDER_ONLY}" == "1" ]]; then
  cat "${RENDERED}"
  exit 0
fi

# ---- deploy ----
az aks get-credentials --resource-group "${RESOURCE_GROUP}" --name "${AKS_NAME}" --overwrite-existing
echo "aks-deploy: context $(kubectl config current-context)"

if [[ "${INSTALL_KEDA:-0}" == "1" ]]; then
  "${ROOT}/scripts/keda.sh" install
fi
# Stops unless one KEDA >= 2.17 and the HTTP add-on >= 0.15 run: with older versions the manifests apply
# cleanly but the Deployment never scales above minReplicaCount.
"${ROOT}/scripts/keda.sh" check

if [[ -n "${ACR_NAME:-}" ]]; then
  az acr repository show --name "${ACR_NAME}" --image "house-price-api:${IMAGE_TAG}" >/dev/null ||
    die "image house-price-api:${IMAGE_TAG} is not in ${ACR_NAME}: run scripts/acr-build-push.sh first"
fi

kubectl apply -f "${RENDERED}"

# The API Deployments of this render: the stable one, and the canary with OVERLAY=prod-canary.
api_deployments=(house-price-api)
if [[ "${OVERLAY}" == "prod-canary" ]]; then api_deployments+=(house-price-api-canary); fi

# Optional secrets, never committed: only the keys that are set.
secret_args=()
for key in API_KEYS METRICS_TOKEN UPSTASH_REDIS_REST_URL UPSTASH_REDIS_REST_TOKEN; do
  if [[ -n "${!key:-}" ]]; then
    printf '%s=%s\n' "${key}" "${!key}" >>"${WORK}/secrets.env"
    secret_args=(--from-env-file="${WORK}/secrets.env")
  fi
done
if [[ ${#secret_args[@]} -gt 0 ]]; then
  kubectl -n "${NAMESPACE}" create secret generic house-price-api-secrets "${secret_args[@]}" \
    --dry-run=client --output yaml | kubectl apply -f -
  # envFrom is read at container start: restart every API Deployment so that all pods see the new values.
  for d in "${api_deployments[@]}"; do
    kubectl -n "${NAMESPACE}" rollout restart "deployment/${d}"
  done
fi

# Azure Monitor managed Prometheus scrapes the API pods with the job of monitoring/ (the labels the dashboard
# and the alerts use). The ConfigMap is cluster-wide: never overwrite one this project did not create.
if [[ "${SCRAPE_CONFIG:-apply}" == "apply" ]]; then
  owner="$(kubectl -n kube-system get configmap ama-metrics-prometheus-config \
    --output jsonpath='{.metadata.labels.app\.kubernetes\.io/part-of}' 2>/dev/null || echo absent)"
  if [[ "${owner}" == "absent" || "${owner}" == "house-price" ]]; then
    kubectl -n kube-system create configmap ama-metrics-prometheus-config \
      --from-file=prometheus-config="${ROOT}/monitoring/prometheus-scrape-config.yaml" \
      --dry-run=client --output yaml |
      kubectl label --local --filename - app.kubernetes.io/part-of=house-price --output yaml |
      kubectl apply -f -
  else
    echo "aks-deploy: kube-system/ama-metrics-prometheus-config exists and is not ours: add the job of monitoring/prometheus-scrape-config.yaml to it yourself" >&2
  fi
fi

if [[ "${REDIS_MODE}" == "in-cluster" ]]; then
  kubectl -n "${NAMESPACE}" rollout status deployment/redis --timeout="${ROLLOUT_TIMEOUT}"
fi
for d in "${api_deployments[@]}"; do
  kubectl -n "${NAMESPACE}" rollout status "deployment/${d}" --timeout="${ROLLOUT_TIMEOUT}"
done
kubectl -n "${NAMESPACE}" get deployments,pods,scaledobjects,interceptorroutes,hpa
echo "aks-deploy: ${ACR_LOGIN_SERVER}/house-price-api:${IMAGE_TAG} (overlays/${OVERLAY_DIR}) rolled out to ${AKS_NAME}/${NAMESPACE}"
