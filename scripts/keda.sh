#!/usr/bin/env bash
# KEDA and the KEDA HTTP add-on: the pinned Helm install, and the check of what a cluster runs.
#
#   scripts/keda.sh install    helm upgrade --install of the pinned charts into namespace keda
#   scripts/keda.sh check      stop (exit 1, with the reason) unless the cluster runs exactly one KEDA operator
#                              >= KEDA_MIN (ours from Helm, or the AKS add-on's) and an HTTP add-on (scaler and
#                              interceptor) >= HTTP_ADDON_MIN
#   scripts/keda.sh versions   print the pins and minimums
#
# Why these minimums (docs/DEPLOYMENT.md, "KEDA and the HTTP add-on: versions"):
#   - The HTTP add-on's external scaler (v0.14+, scaler/handlers.go) answers an InterceptorRoute trigger with
#     the float fields TargetSizeFloat / MetricValueFloat only. KEDA reads those from 2.17 on
#     (kedacore/keda #6482, pkg/scalers/external_scaler.go); an older KEDA sees a target of 0, the HPA rejects
#     the metric, and only the 0 <-> 1 activation works: the Deployment never scales above minReplicaCount.
#   - HTTP add-on v0.14 reports wrong values when concurrency and requestRate are both set, as our
#     InterceptorRoute does (fixed in v0.15.0, kedacore/http-add-on #1659).
# The AKS KEDA add-on's version follows the cluster's Kubernetes version (Azure/AKS CHANGELOG: 1.32 -> 2.16,
# 1.33 -> 2.17) and moves with it, so the AKS path installs KEDA with Helm and keeps the add-on off
# (infra/bicep/modules/aks.bicep: workloadAutoScalerProfile.keda.enabled false). `check` also accepts the add-on
# alone when it is new enough, but never two KEDA operators in one cluster.
#
# Environment: KEDA_NAMESPACE (default keda; the ScaledObject's scaler address assumes it).
set -euo pipefail

# Pinned chart versions (the charts' appVersion equals the chart version for both).
KEDA_CHART_VERSION="2.20.2"
HTTP_ADDON_CHART_VERSION="0.15.0"
# Minimum running versions.
KEDA_MIN="2.17.0"
HTTP_ADDON_MIN="0.15.0"
KEDA_NAMESPACE="${KEDA_NAMESPACE:-keda}"

die() {
  echo "keda.sh: $*" >&2
  exit 1
}

# version_ge A B: A >= B for dotted versions (a leading "v" and any "-suffix" ignored).
version_ge() {
  local a b
  a="$(normalize "$1")"
  b="$(normalize "$2")"
  [[ "$(printf '%s\n%s\n' "${b}" "${a}" | sort -V | head -n 1)" == "${b}" ]]
}

normalize() {
  local v="${1#v}"
  printf '%s' "${v%%-*}"
}

# The tag of an image reference (registry/repo:tag[@digest]); empty when there is none.
image_tag() {
  local ref="${1%%@*}"
  local last="${ref##*/}"
  if [[ "${last}" == *:* ]]; then printf '%s' "${last##*:}"; fi
}

# One line per Deployment in the cluster: namespace, name, then its container images.
list_deployments() {
  kubectl get deployments --all-namespaces --output \
    jsonpath='{range .items[*]}{.metadata.namespace}{"\t"}{.metadata.name}{"\t"}{range .spec.template.spec.containers[*]}{.image}{" "}{end}{"\n"}{end}'
}

check() {
  command -v kubectl >/dev/null 2>&1 || die "kubectl is required"
  local listing
  listing="$(list_deployments)" || die "cannot list Deployments (is the kube context set? az aks get-credentials ...)"

  # KEDA: exactly one operator (the Helm install in ${KEDA_NAMESPACE}, or the AKS add-on in kube-system), new enough.
  local operators
  operators="$(awk -F'\t' '$2 == "keda-operator"' <<<"${listing}")"
  [[ -n "${operators}" ]] ||
    die "no KEDA operator found: run scripts/keda.sh install (KEDA ${KEDA_CHART_VERSION}, HTTP add-on ${HTTP_ADDON_CHART_VERSION})"
  if [[ "$(wc -l <<<"${operators}")" -gt 1 ]]; then
    die "more than one KEDA operator runs ($(cut -f1 <<<"${operators}" | paste -sd, -)): two operators fight over the same ScaledObjects and HPAs. Keep the Helm install in ${KEDA_NAMESPACE} and disable the AKS add-on (az aks update --disable-keda ...; Bicep: workloadAutoScalerProfile.keda.enabled false)"
  fi
  local ns image version
  ns="$(cut -f1 <<<"${operators}")"
  image="$(cut -f3 <<<"${operators}" | awk '{print $1}')"
  version="$(image_tag "${image}")"
  [[ -n "${version}" ]] || die "cannot read the KEDA version from image '${image}'"
  if ! version_ge "${version}" "${KEDA_MIN}"; then
    if [[ "${ns}" == "kube-system" ]]; then
      die "the AKS-managed KEDA add-on runs KEDA ${version} (${image}): >= ${KEDA_MIN} is needed (the HTTP add-on's scaler reports float metrics that older KEDA reads as 0, so the HPA never scales above minReplicaCount). The add-on's KEDA follows the Kubernetes version (1.33 ships 2.17): disable it (az aks update --disable-keda; Bicep: workloadAutoScalerProfile.keda.enabled false) and run scripts/keda.sh install"
    fi
    die "KEDA ${version} is too old: >= ${KEDA_MIN} is needed (the HTTP add-on's scaler reports float metrics that older KEDA reads as 0, so the HPA never scales above minReplicaCount). Run scripts/keda.sh install"
  fi

  # HTTP add-on: the external scaler and the interceptor, both new enough.
  local component line addon_version
  for component in keda-add-ons-http-external-scaler keda-add-ons-http-interceptor; do
    line="$(awk -F'\t' -v ns="${KEDA_NAMESPACE}" -v n="${component}" '$1 == ns && $2 == n' <<<"${listing}")"
    [[ -n "${line}" ]] ||
      die "Deployment ${KEDA_NAMESPACE}/${component} not found: install the KEDA HTTP add-on (scripts/keda.sh install)"
    image="$(cut -f3 <<<"${line}" | awk '{print $1}')"
    addon_version="$(image_tag "${image}")"
    [[ -n "${addon_version}" ]] || die "cannot read the HTTP add-on version from image '${image}'"
    version_ge "${addon_version}" "${HTTP_ADDON_MIN}" ||
      die "KEDA HTTP add-on ${addon_version} (${component}) is too old: >= ${HTTP_ADDON_MIN} is needed (v0.14 mis-reports when concurrency and requestRate are both set, as the InterceptorRoute does). Run scripts/keda.sh install"
  done
  echo "keda.sh: KEDA ${version} (namespace ${ns}) and HTTP add-on ${addon_version} (namespace ${KEDA_NAMESPACE}): OK (>= ${KEDA_MIN}, >= ${HTTP_ADDON_MIN})"
}

install() {
  command -v helm >/dev/null 2>&1 || die "helm is required (https://helm.sh/docs/intro/install/)"
  helm repo add kedacore https://kedacore.github.io/charts --force-update >/dev/null
  helm repo update kedacore >/dev/null
  helm upgrade --install keda kedacore/keda --version "${KEDA_CHART_VERSION}" \
    --namespace "${KEDA_NAMESPACE}" --create-namespace --wait
  helm upgrade --install http-add-on kedacore/keda-add-ons-http --version "${HTTP_ADDON_CHART_VERSION}" \
    --namespace "${KEDA_NAMESPACE}" --wait
}

case "${1:-}" in
  install) install ;;
  check) check ;;
  versions)
    printf 'KEDA chart %s (minimum running %s)\nHTTP add-on chart %s (minimum running %s)\n' \
      "${KEDA_CHART_VERSION}" "${KEDA_MIN}" "${HTTP_ADDON_CHART_VERSION}" "${HTTP_ADDON_MIN}"
    ;;
  *) die "usage: scripts/keda.sh install|check|versions" ;;
esac
