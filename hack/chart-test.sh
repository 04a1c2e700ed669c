#!/usr/bin/env bash
# Chart checks (`make chart-test`; run hack/tools.sh first): the chart's CRDs equal crds/,
# then for the default values and for each ci/<case>-values.yaml (full: every option on;
# network-policy: the NetworkPolicy with every peer, cluster-wide RBAC; shared-cluster:
# watchNamespaces, credential grants, NetworkPolicy, metrics on 127.0.0.1 behind a proxy):
# `helm lint --strict`, `helm template --include-crds`, kubernetes-validate --strict on every
# rendered object (Kubernetes 1.37 schemas), and hack/chart-assert.py on what the objects say.
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

# No image is published: every install names the registry it pushed `make image` to.
image=(--set image.repository=registry.example.com/identity/entra-cloud-operator)
for case in default full network-policy shared-cluster; do
  values=("${image[@]}")
  [[ $case != default ]] && values+=(-f "$chart/ci/$case-values.yaml")
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
# value to --set (--set-json when it starts with json:), then the part of helm's message that
# shows why it was refused.
guid=3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b
canaries=(
  "replicaCount=one" "at '/replicaCount': got string, want integer"
  "image.pullPolicy=Sometimes" "at '/image/pullPolicy': value must be one of"
  "logFormat=xml" "at '/logFormat': value must be one of"
  "unknownKey=1" "additional properties 'unknownKey' not allowed"
  "workloadIdentity.enabled=true" "at '/workloadIdentity/clientId'"
  "watchNamespaces={a,a}" "at '/watchNamespaces': items at 0 and 1 are equal"
  "serviceAccount.create=false" "serviceAccount.name is required"
  "service.enabled=false,serviceMonitor.enabled=true" "serviceMonitor.enabled needs service.enabled"
  "workers=0" "at '/workers': minimum: got 0, want 1"
  "workers=33" "at '/workers': maximum: got 33, want 32"
  "allowEndpointOverride=yes" "at '/allowEndpointOverride': got string, want boolean"
  "json:credentialGrants=[{\"namespaces\":[],\"tenantIds\":[\"$guid\"]}]" "at '/credentialGrants/0/namespaces': minItems"
  "json:credentialGrants=[{\"namespaces\":[\"a\"],\"tenantIds\":[]}]" "at '/credentialGrants/0/tenantIds': minItems"
  "json:credentialGrants=[{\"tenantIds\":[\"$guid\"]}]" "at '/credentialGrants/0': missing property 'namespaces'"
  "json:credentialGrants=[{\"namespaces\":[\"a\"]}]" "at '/credentialGrants/0': missing property 'tenantIds'"
  "json:credentialGrants=[{\"namespaces\":[\"a\"],\"tenantIds\":[\"contoso\"]}]" "at '/credentialGrants/0/tenantIds/0': 'contoso' does not match pattern"
  "json:credentialGrants=[{\"namespaces\":[\"a\"],\"tenantIds\":[\"$guid\"],\"clientIds\":[\"x\"]}]" "at '/credentialGrants/0/clientIds/0': 'x' does not match pattern"
  "json:credentialGrants=[{\"namespaces\":[\"a\"],\"tenantIds\":[\"$guid\"],\"clientIds\":[]}]" "at '/credentialGrants/0/clientIds': minItems"
  "json:credentialGrants=[{\"namespaces\":[\"a\"],\"tenantIds\":[\"$guid\"],\"endpointOverride\":\"true\"}]" "at '/credentialGrants/0/endpointOverride': got string, want boolean"
  "json:credentialGrants=[{\"namespaces\":[\"a\"],\"tenantIds\":[\"$guid\"],\"tenants\":[]}]" "additional properties 'tenants' not allowed"
  "json:watchNamespaces=[\"a\"],credentialGrants=[{\"namespaces\":[\"b\"],\"tenantIds\":[\"$guid\"]}]" "grants namespace b, which watchNamespaces does not include"
  "json:networkPolicy.apiServer.cidrs=[]" "at '/networkPolicy/apiServer/cidrs': minItems"
  "networkPolicy.activeDirectory.cidrs={10.0.0.1}" "at '/networkPolicy/activeDirectory/cidrs/0': '10.0.0.1' does not match pattern"
  "image.repository=" "image.repository is required"
  "metrics.bindAddress=localhost" "at '/metrics/bindAddress': 'localhost' does not match pattern"
  "metrics.bindAddress=127.0.0.1" "livenessProbe points at the metrics endpoint"
  "metrics.bindAddress=127.0.0.1,livenessProbe.httpGet.port=p,readinessProbe.httpGet.port=p" "service.targetPort http is the metrics endpoint"
)
for ((i = 0; i < ${#canaries[@]}; i += 2)); do
  bad=${canaries[i]} why=${canaries[i + 1]} flag=--set
  [[ $bad == json:* ]] && bad=${bad#json:} flag=--set-json
  if "$helm" template "$release" "$chart" "${image[@]}" "$flag" "$bad" >/dev/null 2>"$out/err" ||
    ! grep -qF "$why" "$out/err"; then
    echo "chart-test: $flag $bad must be refused with \"$why\"; helm said:" >&2
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
