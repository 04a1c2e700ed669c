#!/usr/bin/env bash
# Chart checks (`make chart-test`; run hack/tools.sh first): the chart's CRDs equal crds/,
# then for the default values and for ci/full-values.yaml (every option on): `helm lint
# --strict`, `helm template --include-crds`, kubernetes-validate --strict on every rendered
# object (Kubernetes 1.37 schemas), and hack/chart-assert.py on what the objects say.
# Two canaries make sure the checks can fail: values the schema must refuse, and an object
# kubernetes-validate must refuse.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=${TOOLS_DIR:-$root/.tools}
helm=$tools/bin/helm
validate=$tools/bin/kubernetes-validate
python=$tools/venv/bin/python
chart=$root/charts/entra-cloud-operator
release=eco
namespace=entra-system

for t in "$helm" "$validate" "$python"; do
  [[ -x $t ]] || { echo "chart-test: $t missing: run hack/tools.sh" >&2; exit 1; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
step() { printf '== %s\n' "$*"; }

step "chart CRDs equal crds/crds.yaml"
cmp "$chart/crds/crds.yaml" "$root/crds/crds.yaml"

for case in default full; do
  values=()
  [[ $case == full ]] && values=(-f "$chart/ci/full-values.yaml")
  step "$case values: helm lint --strict"
  "$helm" lint --strict "$chart" "${values[@]}"
  step "$case values: helm template --include-crds"
  "$helm" template "$release" "$chart" --namespace "$namespace" --include-crds "${values[@]}" >"$out/$case.yaml"
  step "$case values: kubernetes-validate --strict"
  "$validate" --strict --quiet "$out/$case.yaml"
  step "$case values: chart-assert"
  "$python" "$root/hack/chart-assert.py" "$case" "$out/$case.yaml" "$root/crds/crds.yaml" \
    "$chart/dashboards/entra-cloud-operator.json" "$namespace"
done

step "canary: the values schema and the templates refuse bad values"
# value to --set, then the part of helm's message that shows why it was refused.
canaries=(
  "replicaCount=one" "at '/replicaCount': got string, want integer"
  "image.pullPolicy=Sometimes" "at '/image/pullPolicy': value must be one of"
  "logFormat=xml" "at '/logFormat': value must be one of"
  "unknownKey=1" "additional properties 'unknownKey' not allowed"
  "workloadIdentity.enabled=true" "at '/workloadIdentity/clientId'"
  "watchNamespaces={a,a}" "at '/watchNamespaces': items at 0 and 1 are equal"
  "serviceAccount.create=false" "serviceAccount.name is required"
  "service.enabled=false,serviceMonitor.enabled=true" "serviceMonitor.enabled needs service.enabled"
)
for ((i = 0; i < ${#canaries[@]}; i += 2)); do
  bad=${canaries[i]} why=${canaries[i + 1]}
  if "$helm" template "$release" "$chart" --set "$bad" >/dev/null 2>"$out/err" ||
    ! grep -qF "$why" "$out/err"; then
    echo "chart-test: --set $bad must be refused with \"$why\"; helm said:" >&2
    cat "$out/err" >&2
    exit 1
  fi
done

step "canary: kubernetes-validate --strict refuses a wrong type and an unknown field"
sed 's/^  replicas: 1$/  replicas: "one"/' "$out/default.yaml" >"$out/bad-type.yaml"
sed 's/^  revisionHistoryLimit: 5$/&\n  replicaz: 1/' "$out/default.yaml" >"$out/bad-field.yaml"
for bad in bad-type bad-field; do
  cmp -s "$out/default.yaml" "$out/$bad.yaml" && { echo "chart-test: $bad canary did not apply" >&2; exit 1; }
  if "$validate" --strict --quiet "$out/$bad.yaml" >"$out/err" 2>&1; then
    echo "chart-test: kubernetes-validate accepted $bad.yaml" >&2
    exit 1
  fi
done

step "chart-test passed"
