#!/usr/bin/env bash
# End-to-end run on minikube: build the image inside minikube's Docker, deploy k8s-keda/overlays/dev
# (namespace w255: API + Redis + InterceptorRoute + ScaledObject with minReplicaCount 0), call every endpoint
# through the KEDA HTTP add-on's interceptor, print the status codes, then clean up.
#
#   scripts/minikube-run.sh
#
# Needs: minikube, kubectl, docker (client), curl; helm when KEDA must be installed (scripts/keda.sh).
# Environment:
#   MINIKUBE_PROFILE  minikube profile (default minikube)
#   LOCAL_PORT        local port of the port-forward (default 8000)
#   INSTALL_KEDA      auto (default: install KEDA + the HTTP add-on with Helm when their CRDs are missing),
#                     never (fail instead), always (helm upgrade --install even if present)
#   KEEP=1            leave the namespace and minikube running (default: delete w255 and `minikube stop`)
#   DIRECT=1          port-forward Service house-price-api directly instead of the interceptor (no scale
#                     from zero: the script first scales the Deployment to 1)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAMESPACE="w255"
PROFILE="${MINIKUBE_PROFILE:-minikube}"
LOCAL_PORT="${LOCAL_PORT:-8000}"
INSTALL_KEDA="${INSTALL_KEDA:-auto}"
KEEP="${KEEP:-0}"
DIRECT="${DIRECT:-0}"
HOST_HEADER="house-price.local" # listed in the dev overlay's InterceptorRoute
IMAGE="house-price-api:dev"
BASE_URL="http://127.0.0.1:${LOCAL_PORT}"
PF_PID=""
PF_LOG="$(mktemp)"
FAILURES=0

log() { printf '\n==> %s\n' "$*"; }
die() {
  echo "minikube-run: $*" >&2
  exit 1
}

cleanup() {
  local rc=$?
  if [[ -n "${PF_PID}" ]]; then
    kill "${PF_PID}" 2>/dev/null || true
    wait "${PF_PID}" 2>/dev/null || true
  fi
  rm -f "${PF_LOG}"
  if [[ "${KEEP}" == "1" ]]; then
    echo "KEEP=1: leaving namespace ${NAMESPACE} and minikube profile ${PROFILE} running"
  else
    log "cleanup: deleting namespace ${NAMESPACE}, stopping minikube"
    kubectl delete namespace "${NAMESPACE}" --ignore-not-found --wait=false || true
    minikube stop --profile "${PROFILE}" || true
  fi
  exit "${rc}"
}
trap cleanup EXIT

for tool in minikube kubectl docker curl; do
  command -v "${tool}" >/dev/null 2>&1 || die "${tool} is required"
done

log "starting minikube (profile ${PROFILE})"
minikube start --profile "${PROFILE}" --cpus=4 --memory=6g
kubectl config use-context "${PROFILE}" >/dev/null

log "building ${IMAGE} inside minikube's Docker daemon"
# minikube docker-env prints export lines for this shell.
eval "$(minikube --profile "${PROFILE}" docker-env)"
docker build --tag "${IMAGE}" "${ROOT}"

crds_present() {
  kubectl get crd scaledobjects.keda.sh >/dev/null 2>&1 &&
    kubectl get crd interceptorroutes.http.keda.sh >/dev/null 2>&1
}

install_keda() {
  log "installing the pinned KEDA and KEDA HTTP add-on charts (namespace keda)"
  "${ROOT}/scripts/keda.sh" install
}

case "${INSTALL_KEDA}" in
  always) install_keda ;;
  auto) crds_present || install_keda ;;
  never) crds_present || die "KEDA / KEDA HTTP add-on CRDs missing (INSTALL_KEDA=never)" ;;
  *) die "INSTALL_KEDA must be auto, always or never" ;;
esac
# KEDA >= 2.17 and the HTTP add-on >= 0.15, or the Deployment never scales above one replica.
"${ROOT}/scripts/keda.sh" check

log "applying k8s-keda/overlays/dev"
kubectl apply -k "${ROOT}/k8s-keda/overlays/dev"
kubectl -n "${NAMESPACE}" rollout status deployment/redis --timeout=180s

if [[ "${DIRECT}" == "1" ]]; then
  # Bypass the interceptor: make sure a pod exists, then talk to the Service.
  kubectl -n "${NAMESPACE}" patch scaledobject house-price-api --type merge -p '{"spec":{"minReplicaCount":1}}'
  kubectl -n "${NAMESPACE}" scale deployment/house-price-api --replicas=1
  kubectl -n "${NAMESPACE}" rollout status deployment/house-price-api --timeout=300s
  log "port-forward svc/house-price-api ${LOCAL_PORT}:8000"
  kubectl -n "${NAMESPACE}" port-forward svc/house-price-api "${LOCAL_PORT}:8000" >"${PF_LOG}" 2>&1 &
else
  # The Deployment may be at zero replicas: go through the interceptor, which holds the first request
  # while KEDA scales the Deployment up, and routes on the Host header.
  log "port-forward svc/keda-add-ons-http-interceptor-proxy ${LOCAL_PORT}:8080 (Host: ${HOST_HEADER})"
  kubectl -n keda port-forward svc/keda-add-ons-http-interceptor-proxy "${LOCAL_PORT}:8080" >"${PF_LOG}" 2>&1 &
fi
PF_PID=$!

# status CODE METHOD PATH [BODY]: prints the status and counts unexpected ones.
call() {
  local expected="$1" method="$2" path="$3" body="${4:-}" code
  local args=(--silent --output /dev/null --write-out '%{http_code}' --max-time 120 -X "${method}" -H "Host: ${HOST_HEADER}")
  if [[ -n "${body}" ]]; then
    args+=(-H 'Content-Type: application/json' --data "${body}")
  fi
  code="$(curl "${args[@]}" "${BASE_URL}${path}" || true)"
  printf '%-6s %-28s -> %s (expected %s)\n' "${method}" "${path}" "${code}" "${expected}"
  if [[ "${code}" != "${expected}" ]]; then
    FAILURES=$((FAILURES + 1))
  fi
}

log "waiting for GET /health = 200 (cold start from zero included; up to 5 minutes)"
deadline=$((SECONDS + 300))
until [[ "$(curl --silent --output /dev/null --write-out '%{http_code}' --max-time 10 -H "Host: ${HOST_HEADER}" "${BASE_URL}/health" || true)" == "200" ]]; do
  if ((SECONDS > deadline)); then
    cat "${PF_LOG}" >&2
    kubectl -n "${NAMESPACE}" get pods,scaledobjects,interceptorroutes >&2 || true
    die "/health did not return 200 in time"
  fi
  if [[ -n "${PF_PID}" ]] && ! kill -0 "${PF_PID}" 2>/dev/null; then
    cat "${PF_LOG}" >&2
    die "port-forward exited"
  fi
  sleep 2
done
kubectl -n "${NAMESPACE}" rollout status deployment/house-price-api --timeout=300s

HOUSE='{"MedInc":8.3252,"HouseAge":41,"AveRooms":6.98412698,"AveBedrms":1.02380952,"Population":322,"AveOccup":2.55555556,"Latitude":37.88,"Longitude":-122.23}'

log "calling every endpoint"
call 200 GET /health
call 200 GET "/hello?name=minikube"
call 200 POST /predict "${HOUSE}"
call 200 POST /bulk_predict "{\"houses\":[${HOUSE},${HOUSE}]}"
call 422 POST /predict '{"MedInc":"not a number"}'
call 200 GET /docs
call 200 GET /openapi.json
call 200 GET /metrics
call 200 GET /api/healthcheck
call 200 GET "/api/convert-fahrenheit-to-celsius?fahrenheit=98.6"

log "one prediction"
curl --silent --max-time 30 -H "Host: ${HOST_HEADER}" -H 'Content-Type: application/json' --data "${HOUSE}" "${BASE_URL}/predict"
echo

log "scaling state"
kubectl -n "${NAMESPACE}" get deployments,pods,scaledobjects,interceptorroutes,hpa || true

if ((FAILURES > 0)); then
  die "${FAILURES} endpoint(s) returned an unexpected status"
fi
log "all endpoints answered as expected"
