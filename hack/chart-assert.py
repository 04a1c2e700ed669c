"""Assertions on the chart's rendered output (`helm template --include-crds`), beyond what
kubernetes-validate checks (that each object is well formed): that the chart deploys what the
controller's contract needs, and nothing it must not have.

Usage: chart-assert.py default|full RENDERED.yaml CRDS.yaml DASHBOARD.json RELEASE_NAMESPACE
(`full` is ci/full-values.yaml). Runs in .tools/venv, which has PyYAML.
"""

import json
import sys

import yaml

case, rendered_path, crds_path, dashboard_path, release_ns = sys.argv[1:6]
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


with open(rendered_path) as f:
    docs = [d for d in yaml.safe_load_all(f) if d]
with open(crds_path) as f:
    crds = [d for d in yaml.safe_load_all(f) if d]


def objects(kind):
    return [d for d in docs if d["kind"] == kind]


def one(kind):
    found = objects(kind)
    check(len(found) == 1, f"expected one {kind}, found {len(found)}")
    return found[0] if found else {}


# The CRDs rendered by --include-crds are the repository's CRDs.
check(objects("CustomResourceDefinition") == crds, "rendered CRDs differ from crds/crds.yaml")

# Labels and namespaces on everything the templates create.
for d in docs:
    if d["kind"] == "CustomResourceDefinition":
        continue
    name = f'{d["kind"]}/{d["metadata"]["name"]}'
    labels = d["metadata"].get("labels", {})
    for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                "app.kubernetes.io/managed-by", "helm.sh/chart"):
        check(key in labels, f"{name}: missing label {key}")
    cluster_scoped = d["kind"] in ("ClusterRole", "ClusterRoleBinding")
    check(cluster_scoped != ("namespace" in d["metadata"]), f"{name}: namespace set wrongly")

# The Deployment: security, probes, args, env, volumes.
dep = one("Deployment")
pod = dep["spec"]["template"]["spec"]
(ctr,) = pod["containers"]
psc, csc = pod["securityContext"], ctr["securityContext"]
check(psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 65532, "pod must run as 65532, non-root")
check(psc.get("seccompProfile") == {"type": "RuntimeDefault"}, "pod seccompProfile")
check(csc.get("runAsNonRoot") is True and csc.get("runAsUser") == 65532, "container must run as 65532")
check(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
check(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation")
check(csc.get("capabilities") == {"drop": ["ALL"]}, "capabilities must drop ALL")
check(csc.get("seccompProfile") == {"type": "RuntimeDefault"}, "container seccompProfile")
check(pod["terminationGracePeriodSeconds"] == 30, "terminationGracePeriodSeconds")
check(ctr["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"},
                           "limits": {"cpu": "500m", "memory": "256Mi"}}, "default resources")
check(ctr["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}, "liveness probe")
check(ctr["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}, "readiness probe")
check(ctr["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}], "container port")
check({"name": "tmp", "mountPath": "/tmp"} in ctr["volumeMounts"], "/tmp mount")
check({"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"], "/tmp emptyDir")
env = {e["name"]: e for e in ctr["env"]}
check(env.get("POD_NAME", {}).get("valueFrom") == {"fieldRef": {"fieldPath": "metadata.name"}}, "POD_NAME")
check(env.get("POD_NAMESPACE", {}).get("valueFrom") == {"fieldRef": {"fieldPath": "metadata.namespace"}},
      "POD_NAMESPACE")
check("RUST_LOG" in env, "RUST_LOG")
args = ctr["args"]
check("controller" in args and "--metrics-addr=0.0.0.0:8080" in args, f"args: {args}")
sa = pod["serviceAccountName"]

# RBAC: exactly the rules tests/rbac.rs finds the controller uses.
watch_rules = [
    {"apiGroups": ["cloudidentity.dev"], "resources": ["tenantsyncpolicies"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["cloudidentity.dev"], "resources": ["clouduserconversions", "cloudgroupconversions"],
     "verbs": ["list", "watch", "patch"]},
    {"apiGroups": ["cloudidentity.dev"],
     "resources": ["tenantsyncpolicies/status", "clouduserconversions/status", "cloudgroupconversions/status"],
     "verbs": ["patch"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
]
release_rules = [
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "patch"]},
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "create", "update"]},
]
roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in objects("Role")}
bindings = {(b["metadata"]["namespace"], b["metadata"]["name"]): b for b in objects("RoleBinding")}
release_roles = [r for (ns, _), r in roles.items() if ns == release_ns and r["rules"] == release_rules]
check(len(release_roles) == 1, "one Role with the lease and journal rules in the release namespace")
for binding in list(bindings.values()) + objects("ClusterRoleBinding"):
    check(binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": release_ns}],
          f'{binding["metadata"]["name"]}: binds the wrong subject')
    ref_kind, ref_name = binding["roleRef"]["kind"], binding["roleRef"]["name"]
    if ref_kind == "Role":
        check((binding["metadata"]["namespace"], ref_name) in roles, f"RoleBinding to a missing Role {ref_name}")
for r in objects("Role") + objects("ClusterRole"):
    for rule in r["rules"]:
        check(not {"delete", "deletecollection", "*"} & set(rule["verbs"]), f"{r['metadata']['name']}: deletes")

service = one("Service")
check(service["spec"]["ports"][0]["name"] == "http-metrics" and service["spec"]["ports"][0]["port"] == 8080,
      "metrics Service port http-metrics 8080")
check(service["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"], "Service selects the pods")

with open(dashboard_path) as f:
    dashboard = json.load(f)

if case == "default":
    check(dep["spec"]["replicas"] == 1, "default replicas")
    check(not any(a.startswith("--namespaces") for a in args), "no --namespaces by default")
    check(one("ClusterRole").get("rules") == watch_rules, "ClusterRole rules")
    check(len(objects("ClusterRoleBinding")) == 1, "one ClusterRoleBinding")
    check(len(roles) == 1, "only the release Role")
    for kind in ("PodDisruptionBudget", "ServiceMonitor", "ConfigMap"):
        check(not objects(kind), f"{kind} must be off by default")
    check("azure.workload.identity/use" not in dep["spec"]["template"]["metadata"]["labels"], "no WI label")
elif case == "full":
    check(dep["spec"]["replicas"] == 2, "replicas 2")
    check("--namespaces=a,b" in args, f"--namespaces=a,b in {args}")
    check(not objects("ClusterRole") and not objects("ClusterRoleBinding"), "no cluster-wide RBAC")
    for ns in ("a", "b"):
        watch = [r for (rns, _), r in roles.items() if rns == ns]
        check(len(watch) == 1 and watch[0]["rules"] == watch_rules, f"watch Role in {ns}")
        check(any(bns == ns for (bns, _) in bindings), f"RoleBinding in {ns}")
    check(one("PodDisruptionBudget")["spec"].get("minAvailable") == 1, "PDB minAvailable 1")
    check(dep["spec"]["template"]["metadata"]["labels"].get("azure.workload.identity/use") == "true",
          "workload identity pod label")
    annotations = one("ServiceAccount")["metadata"].get("annotations", {})
    check(annotations.get("azure.workload.identity/client-id") == "0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e",
          "SA client-id annotation")
    check(annotations.get("azure.workload.identity/tenant-id") == "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b",
          "SA tenant-id annotation")
    monitor = one("ServiceMonitor")
    check(monitor["spec"]["endpoints"][0]["port"] == "http-metrics", "ServiceMonitor port")
    check(monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items(),
          "ServiceMonitor selects the Service")
    cm = one("ConfigMap")
    check(cm["metadata"]["labels"].get("grafana_dashboard") == "1", "dashboard label")
    check(json.loads(cm["data"]["entra-cloud-operator.json"]) == dashboard, "dashboard ConfigMap = JSON file")
else:
    sys.exit(f"unknown case {case}")

for f in failures:
    print(f"chart-assert ({case}): {f}", file=sys.stderr)
if failures:
    sys.exit(1)
print(f"chart-assert ({case}): {len(docs)} objects ok")
