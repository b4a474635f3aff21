#!/usr/bin/env bash
# Build the API image (Dockerfile) and push it to Azure Container Registry, tagged with the current commit.
#
#   ACR_NAME=<registry> scripts/acr-build-push.sh
#
# Environment:
#   ACR_NAME    registry name (not the login server); default: azd env value AZURE_CONTAINER_REGISTRY_NAME
#   IMAGE_NAME  repository in the registry (default house-price-api)
#   MODE        docker (default): local `docker build` + `docker push` after `az acr login`
#               acr: `az acr build` (builds in Azure; no local Docker engine needed)
#   PLATFORM    target platform (default linux/amd64)
#   FORCE=1     allow a dirty work tree (the tag would not describe the image's sources)
#
# Prints the pushed image reference on the last line; scripts/aks-deploy.sh deploys IMAGE_TAG=<same commit>.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

die() {
  echo "acr-build-push: $*" >&2
  exit 1
}

for tool in az git; do
  command -v "${tool}" >/dev/null 2>&1 || die "${tool} is required"
done

if [[ -z "${ACR_NAME:-}" ]] && command -v azd >/dev/null 2>&1; then
  ACR_NAME="$(azd env get-value AZURE_CONTAINER_REGISTRY_NAME 2>/dev/null || true)"
fi
[[ -n "${ACR_NAME:-}" ]] || die "set ACR_NAME (the registry name, e.g. acrxyz123)"

IMAGE_NAME="${IMAGE_NAME:-house-price-api}"
MODE="${MODE:-docker}"
PLATFORM="${PLATFORM:-linux/amd64}"

# The tag is the commit: refuse a dirty tree, whose image would not match any commit.
if [[ -n "$(git status --porcelain)" ]]; then
  if [[ "${FORCE:-0}" == "1" ]]; then
    echo "acr-build-push: WARNING: work tree is dirty; tagging anyway because FORCE=1" >&2
  else
    git status --short >&2
    die "work tree is dirty: commit first (or FORCE=1)"
  fi
fi
TAG="$(git rev-parse --short HEAD)"
[[ "${TAG}" != "latest" ]] || die "refusing the tag 'latest'"

LOGIN_SERVER="$(az acr show --name "${ACR_NAME}" --query loginServer --output tsv)"
[[ -n "${LOGIN_SERVER}" ]] || die "registry ${ACR_NAME} not found"
IMAGE="${LOGIN_SERVER}/${IMAGE_NAME}:${TAG}"

case "${MODE}" in
  docker)
    command -v docker >/dev/null 2>&1 || die "docker is required for MODE=docker (or use MODE=acr)"
    az acr login --name "${ACR_NAME}"
    docker build --platform "${PLATFORM}" \
      --label "org.opencontainers.image.revision=$(git rev-parse HEAD)" \
      --label "org.opencontainers.image.source=house-price-inference" \
      --tag "${IMAGE}" "${ROOT}"
    docker push "${IMAGE}"
    ;;
  acr)
    az acr build --registry "${ACR_NAME}" --platform "${PLATFORM}" \
      --image "${IMAGE_NAME}:${TAG}" "${ROOT}"
    ;;
  *)
    die "MODE must be docker or acr, not ${MODE}"
    ;;
esac

echo "pushed ${IMAGE}"
echo "${IMAGE}"
