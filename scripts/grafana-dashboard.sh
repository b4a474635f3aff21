#!/usr/bin/env bash
# Import monitoring/grafana-dashboard.json into the Azure Managed Grafana of infra/bicep (deployGrafana=true).
#
#   scripts/grafana-dashboard.sh               # names from the azd environment (AZURE_RESOURCE_GROUP, GRAFANA_NAME)
#   RESOURCE_GROUP=rg-x GRAFANA_NAME=amg-x scripts/grafana-dashboard.sh
#
# Needs az with the `amg` extension (installed on first use) and the Grafana Admin (or Editor) role on the
# instance: main.bicep gives it to principalId. Prints the dashboard's URL.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DASHBOARD="${ROOT}/monitoring/grafana-dashboard.json"

die() {
  echo "grafana-dashboard: $*" >&2
  exit 1
}

azd_value() {
  if command -v azd >/dev/null 2>&1; then
    azd env get-value "$1" 2>/dev/null || true
  fi
}

command -v az >/dev/null 2>&1 || die "az is required"
RESOURCE_GROUP="${RESOURCE_GROUP:-$(azd_value AZURE_RESOURCE_GROUP)}"
GRAFANA_NAME="${GRAFANA_NAME:-$(azd_value GRAFANA_NAME)}"
[[ -n "${RESOURCE_GROUP}" ]] || die "set RESOURCE_GROUP"
[[ -n "${GRAFANA_NAME}" ]] || die "set GRAFANA_NAME (provision with DEPLOY_GRAFANA=true to create one)"

az extension add --name amg --upgrade --only-show-errors >/dev/null
# Retried: right after provisioning, the Grafana Admin role assignment may still be propagating.
n=0
until az grafana dashboard import --resource-group "${RESOURCE_GROUP}" --name "${GRAFANA_NAME}" \
  --definition "${DASHBOARD}" --overwrite true --only-show-errors >/dev/null; do
  n=$((n + 1))
  [[ "${n}" -lt 12 ]] || die "import into ${GRAFANA_NAME} failed 12 times (do you have Grafana Admin or Editor on it?)"
  echo "grafana-dashboard: import failed (role assignment still propagating?); retrying in 10s" >&2
  sleep 10
done
endpoint="$(az grafana show --resource-group "${RESOURCE_GROUP}" --name "${GRAFANA_NAME}" \
  --query properties.endpoint --output tsv)"
echo "grafana-dashboard: ${endpoint}/d/house-price-api (data source: the Managed Prometheus one of the workspace)"
