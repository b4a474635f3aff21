#!/usr/bin/env bash
# Deploy k8s-keda/overlays/prod (or prod-canary) to AKS, with the image pinned to a commit tag.
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
#   IMAGE_TAG           image tag (default: `git rev-parse --short HEAD`, what scripts/acr-build-push.sh pushed)
#   ACR_LOGIN_SERVER    registry host (default: from ACR_NAME)
#   PUBLIC_HOST         extra Host header routed by the InterceptorRoute (your Ingress/Gateway host)
#   REDIS_URL           replaces the in-cluster Redis URL in Secret house-price-api-redis (e.g. Azure Managed
#                       Redis: rediss://:<access-key>@<name>.<region>.redis.azure.net:10000)
#   API_KEYS, METRICS_TOKEN, UPSTASH_REDIS_REST_URL, UPSTASH_REDIS_REST_TOKEN
#                       when set, written to Secret house-price-api-secrets (read by the pods via envFrom)
#   OVERLAY             prod (default) or prod-canary
#   ROLLOUT_TIMEOUT     default 300s
#   RENDER_ONLY=1       print the rendered manifests and exit: no Azure, no cluster (used by tests/deploy)
#
# The manifests are rendered without editing the repository: a temporary overlay on top of the chosen one
# sets the image, identity client id, model URL and hosts, then `kubectl apply` applies the result.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAMESPACE="w255"
OVERLAY="${OVERLAY:-prod}"
ROLLOUT_TIMEOUT="${ROLLOUT_TIMEOUT:-300s}"
RENDER_ONLY="${RENDER_ONLY:-0}"
# Image name used by the committed prod overlay; the temporary overlay retargets it.
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

{
  cat <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../${OVERLAY}
images:
  - name: ${COMMITTED_IMAGE}
    newName: ${ACR_LOGIN_SERVER}/house-price-api
    newTag: "${IMAGE_TAG}"
configMapGenerator:
  - name: house-price-api-config
    behavior: merge
    literals:
      - MODEL_BLOB_URL=${MODEL_BLOB_URL}
patches:
  - target:
      kind: ServiceAccount
      name: house-price-api
    patch: |-
      - op: replace
        path: /metadata/annotations/azure.workload.identity~1client-id
        value: "${WORKLOAD_CLIENT_ID}"
EOF
  if [[ -n "${PUBLIC_HOST:-}" ]]; then
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
} >"${DEPLOY_DIR}/kustomization.yaml"

if [[ -n "${REDIS_URL:-}" ]]; then
  # Written to a file (not the kustomization) so the URL's password never appears in a command line.
  printf 'REDIS_URL=%s\n' "${REDIS_URL}" >"${DEPLOY_DIR}/redis.env"
  cat >>"${DEPLOY_DIR}/kustomization.yaml" <<'EOF'
secretGenerator:
  - name: house-price-api-redis
    behavior: replace
    envs:
      - redis.env
EOF
fi

RENDERED="${WORK}/rendered.yaml"
kubectl kustomize "${DEPLOY_DIR}" >"${RENDERED}"

if [[ "${RENDER_ONLY}" == "1" ]]; then
  cat "${RENDERED}"
  exit 0
fi

# ---- deploy ----
az aks get-credentials --resource-group "${RESOURCE_GROUP}" --name "${AKS_NAME}" --overwrite-existing
echo "aks-deploy: context $(kubectl config current-context)"

for crd in scaledobjects.keda.sh interceptorroutes.http.keda.sh; do
  kubectl get crd "${crd}" >/dev/null 2>&1 ||
    die "CRD ${crd} missing: enable the AKS KEDA add-on and install the KEDA HTTP add-on (docs/DEPLOYMENT.md)"
done

if [[ -n "${ACR_NAME:-}" ]]; then
  az acr repository show --name "${ACR_NAME}" --image "house-price-api:${IMAGE_TAG}" >/dev/null ||
    die "image house-price-api:${IMAGE_TAG} is not in ${ACR_NAME}: run scripts/acr-build-push.sh first"
fi

kubectl apply -f "${RENDERED}"

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
  # envFrom is read at container start: restart so the pods see the new values.
  kubectl -n "${NAMESPACE}" rollout restart deployment/house-price-api
fi

kubectl -n "${NAMESPACE}" rollout status deployment/redis --timeout="${ROLLOUT_TIMEOUT}"
kubectl -n "${NAMESPACE}" rollout status deployment/house-price-api --timeout="${ROLLOUT_TIMEOUT}"
kubectl -n "${NAMESPACE}" get deployments,pods,scaledobjects,interceptorroutes,hpa
echo "aks-deploy: ${ACR_LOGIN_SERVER}/house-price-api:${IMAGE_TAG} rolled out to ${AKS_NAME}/${NAMESPACE}"
