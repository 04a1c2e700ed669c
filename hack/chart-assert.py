"""Assertions on the chart's rendered output (`helm template --include-crds`), beyond what
kubernetes-validate checks (that each object is well formed): that the chart deploys what the
controller's contract needs, and nothing it must not have.

Usage: chart-assert.py CASE RENDERED.yaml CRDS.yaml DASHBOARD.json RELEASE_NAMESPACE, CASE one of
default, full, network-policy, shared-cluster (the others are ci/<case>-values.yaml). Runs in
.tools/venv, which has PyYAML.
"""

import json
import re
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

FULLNAME = "eco-entra-cloud-operator"
GRANTS_DIR = "/etc/entra-cloud-operator/grants"
TENANT = "3f9a1c2e-5b7d-4e8f-9a0b-1c2d3e4f5a6b"
CLIENT = "0b5e7c1d-2f3a-4b6c-8d9e-0f1a2b3c4d5e"

# The Deployment: security, probes, args, env, volumes.
dep = one("Deployment")
pod = dep["spec"]["template"]["spec"]
ctr = next((c for c in pod["containers"] if c["name"] == "controller"), {})
check(pod["containers"][0] is ctr, "the controller is the first container")
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
if case != "shared-cluster":
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
check("controller" in args, f"args: {args}")
metrics_addr = "127.0.0.1:8080" if case == "shared-cluster" else "0.0.0.0:8080"
check(f"--metrics-addr={metrics_addr}" in args, f"--metrics-addr={metrics_addr} in {args}")
workers = {"full": 3, "shared-cluster": 4}.get(case, 2)
check(f"--workers={workers}" in args, f"--workers={workers} in {args}")
check(f"--journal-key-secret={FULLNAME}-journal-key" in args, f"--journal-key-secret in {args}")
check(("--allow-endpoint-override" in args) == (case == "full"), f"--allow-endpoint-override in {args}")
sa = pod["serviceAccountName"]

# Credential grants: a ConfigMap, always, mounted read-only and named by --credential-grants;
# the pods restart when it changes.
check(f"--credential-grants={GRANTS_DIR}/grants.yaml" in args, f"--credential-grants in {args}")
check({"name": "credential-grants", "mountPath": GRANTS_DIR, "readOnly": True} in ctr["volumeMounts"],
      "credential grants mounted read-only")
check({"name": "credential-grants", "configMap": {"name": f"{FULLNAME}-credential-grants",
       "items": [{"key": "grants.yaml", "path": "grants.yaml"}]}} in pod["volumes"], "credential grants volume")
checksum = dep["spec"]["template"]["metadata"].get("annotations", {}).get("checksum/credential-grants", "")
check(len(checksum) == 64 and all(c in "0123456789abcdef" for c in checksum), "checksum/credential-grants annotation")
config_maps = {c["metadata"]["name"]: c for c in objects("ConfigMap")}
grants_cm = config_maps.get(f"{FULLNAME}-credential-grants", {"data": {}})
check(list(grants_cm["data"]) == ["grants.yaml"], "the grants ConfigMap holds grants.yaml only")
grants_text = grants_cm["data"].get("grants.yaml", "")
check(grants_text.startswith("grants:"), f"grants.yaml starts with grants: {grants_text!r}")
grants = (yaml.safe_load(grants_text) or {})
check(list(grants) == ["grants"], f"grants.yaml has the one key grants: {grants}")
expected_grants = {
    "default": [],
    "full": [{"namespaces": ["a"], "tenantIds": [TENANT], "endpointOverride": True}],
    "network-policy": [{"namespaces": ["identity"], "tenantIds": [TENANT]}],
    "shared-cluster": [
        {"namespaces": ["identity"], "tenantIds": [TENANT]},
        {"namespaces": ["hr"], "tenantIds": [TENANT, "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"],
         "clientIds": [CLIENT, "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"], "endpointOverride": False},
    ],
}.get(case)
check(grants.get("grants") == expected_grants, f"grants: {grants.get('grants')} != {expected_grants}")

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
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "create", "update"]},
]
roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in objects("Role")}
bindings = {(b["metadata"]["namespace"], b["metadata"]["name"]): b for b in objects("RoleBinding")}
release_roles = [r for (ns, _), r in roles.items() if ns == release_ns and r["rules"] == release_rules]
check(len(release_roles) == 1, "one Role with the lease and journal rules in the release namespace")
# The journal key: read and patched by name only; created (which RBAC cannot restrict to a name).
journal_key_rules = [
    {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [f"{FULLNAME}-journal-key"], "verbs": ["get", "patch"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
]
check(roles.get((release_ns, f"{FULLNAME}-journal-key"), {}).get("rules") == journal_key_rules,
      "the journal key Role in the release namespace")
check(bindings.get((release_ns, f"{FULLNAME}-journal-key"), {}).get("roleRef", {}).get("name")
      == f"{FULLNAME}-journal-key", "the journal key RoleBinding")
# Secrets: read in the watched namespaces only (everywhere without watchNamespaces), plus the
# journal key by name; never listed or watched.
watched = {"full": ["a", "b"], "shared-cluster": ["identity", "hr"]}.get(case, [])
for r in objects("Role") + objects("ClusterRole"):
    where = r["metadata"].get("namespace")
    for rule in r["rules"]:
        if "secrets" not in rule["resources"] and "*" not in rule["resources"]:
            continue
        # Patched: only the journal key, by name (its chain heads); never listed or watched.
        patch_ok = {"patch"} if rule.get("resourceNames") == [f"{FULLNAME}-journal-key"] else set()
        check(not ({"list", "watch", "update", "patch"} - patch_ok) & set(rule["verbs"]),
              f"{r['kind']}/{r['metadata']['name']}: secrets only get/create (and patch of the journal key)")
        if rule in journal_key_rules:
            check(where == release_ns, f"{r['metadata']['name']}: journal key rules in the release namespace")
        elif where is None:
            check(not watched, f"ClusterRole/{r['metadata']['name']}: reads Secrets cluster-wide with watchNamespaces")
        else:
            check(where in watched, f"Role/{r['metadata']['name']}: reads Secrets in unwatched {where}")
cluster_bindings = objects("ClusterRoleBinding")
delegators = [b for b in cluster_bindings if b["roleRef"]["name"] == "system:auth-delegator"]
check(len(delegators) == (1 if case == "shared-cluster" else 0), "system:auth-delegator binding with rbac.authDelegator")
for binding in list(bindings.values()) + cluster_bindings:
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
target_port = "https-metrics" if case == "shared-cluster" else "http"
check(service["spec"]["ports"][0]["targetPort"] == target_port, f"Service targetPort {target_port}")

check(service["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"], "Service selects the pods")

# The NetworkPolicy: DNS, the API server, Graph/login on 443 to public addresses only, and the
# optional peers; metrics ingress from the selected pods only.
PRIVATE = ["10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16"]


def tcp(*ports):
    return [{"port": p, "protocol": "TCP"} for p in ports]


def check_network_policy(spec):
    check(spec.get("podSelector", {}).get("matchLabels") == dep["spec"]["selector"]["matchLabels"],
          "NetworkPolicy selects the controller pods")
    check(spec.get("policyTypes") == ["Ingress", "Egress"], "NetworkPolicy restricts ingress and egress")
    ingress, egress = spec.get("ingress", []), spec.get("egress", [])
    if len(ingress) != 1 or len(ingress[0].get("from", [])) != 1 or len(egress) < 3:
        check(False, f"one metrics ingress rule, and DNS, API server, Graph egress: {spec}")
        return
    check(ingress[0]["ports"] == [{"port": target_port, "protocol": "TCP"}],
          f"metrics ingress on {target_port} only: {ingress}")
    (peer,) = ingress[0]["from"]
    check(peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
          "metrics ingress from the monitoring namespace")
    dns, api, graph = egress[0], egress[1], egress[2]
    check(dns["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}], "DNS ports")
    check(dns["to"][0] == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                           "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}, "DNS peer kube-dns")
    check(api["ports"] == tcp(443, 6443), "API server ports 443 and 6443")
    check(graph == {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": PRIVATE}}], "ports": tcp(443)},
          f"Graph and login: TCP 443 to public addresses: {graph}")
    if case == "network-policy":
        check(peer["podSelector"] == {}, "metrics ingress from every pod of that namespace")
        check(dns["to"][1:] == [{"ipBlock": {"cidr": "169.254.20.10/32"}}], "NodeLocal DNS peer")
        check(api["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "API server: any address by default")
        check(egress[3:] == [
            {"to": [{"ipBlock": {"cidr": "10.20.0.5/32"}}], "ports": tcp(3128)},
            {"to": [{"ipBlock": {"cidr": "10.30.0.0/24"}}], "ports": tcp(389, 636)},
            {"to": [{"ipBlock": {"cidr": "10.40.0.7/32"}}], "ports": tcp(8443)},
        ], f"proxy, AD and extra egress: {egress[3:]}")
    else:
        check(peer["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
              "metrics ingress from Prometheus pods")
        check(dns["to"][1:] == [], "no extra DNS peer")
        check(api["to"] == [{"ipBlock": {"cidr": "10.96.0.1/32"}}, {"ipBlock": {"cidr": "172.18.0.2/32"}}],
              "API server narrowed to its addresses")
        check(len(egress) == 3, f"no proxy, AD or extra egress: {egress}")


if case in ("network-policy", "shared-cluster"):
    check_network_policy(one("NetworkPolicy").get("spec", {}))
else:
    check(not objects("NetworkPolicy"), "NetworkPolicy off by default")

with open(dashboard_path) as f:
    dashboard = json.load(f)
# The metric families the dashboard reads (tests/chart.rs checks each is exported).
exported = {n.removesuffix("_total") for n in re.findall(r"entra_cloud_operator_[a-z_]+", json.dumps(dashboard))}

if case == "default":
    check(dep["spec"]["replicas"] == 1, "default replicas")
    check(not any(a.startswith("--namespaces") for a in args), "no --namespaces by default")
    check(one("ClusterRole").get("rules") == watch_rules, "ClusterRole rules")
    check(len(objects("ClusterRoleBinding")) == 1, "one ClusterRoleBinding")
    check(len(roles) == 2, "only the release and journal key Roles")
    for kind in ("PodDisruptionBudget", "ServiceMonitor", "PrometheusRule"):
        check(not objects(kind), f"{kind} must be off by default")
    check(list(config_maps) == [f"{FULLNAME}-credential-grants"], "only the grants ConfigMap by default")
    check(grants_text == "grants: []\n", f"no grants by default: {grants_text!r}")
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
    rules = {r["alert"]: r for g in one("PrometheusRule")["spec"]["groups"] for r in g["rules"]}
    check(sorted(rules) == ["EntraCloudOperatorDriftDetected", "EntraCloudOperatorGraphThrottled",
                            "EntraCloudOperatorNoLeader", "EntraCloudOperatorRolloutHalted",
                            "EntraCloudOperatorStalled"], f"alerts: {sorted(rules)}")
    check(rules.get("EntraCloudOperatorStalled", {}).get("for") == "1h", "stalledFor applied")
    check(one("PrometheusRule")["metadata"]["labels"].get("release") == "prometheus", "rule labels")
    for r in rules.values():
        # Every metric an alert reads is one the controller exports (the dashboard's list).
        for name in re.findall(r"entra_cloud_operator_[a-z_]+", r["expr"]):
            check(name.removesuffix("_total") in exported, f"{r['alert']} reads {name}")
    cm = config_maps.get(f"{FULLNAME}-dashboard", {"metadata": {"labels": {}}, "data": {}})
    check(cm["metadata"]["labels"].get("grafana_dashboard") == "1", "dashboard label")
    check(json.loads(cm["data"]["entra-cloud-operator.json"]) == dashboard, "dashboard ConfigMap = JSON file")
elif case == "network-policy":
    check(len(objects("ClusterRole")) == 1, "cluster-wide watch rules")
elif case == "shared-cluster":
    check(not objects("ClusterRole"), "no ClusterRole with watchNamespaces")
    for ns in ("identity", "hr"):
        watch = [r for (rns, _), r in roles.items() if rns == ns]
        check(len(watch) == 1 and watch[0]["rules"] == watch_rules, f"watch Role in {ns}")
        check(any(bns == ns for (bns, _) in bindings), f"RoleBinding in {ns}")
    proxy = next((c for c in pod["containers"] if c["name"] == "kube-rbac-proxy"), {})
    check({"name": "https-metrics", "containerPort": 8443, "protocol": "TCP"} in proxy.get("ports", []),
          "kube-rbac-proxy sidecar port")
    check(ctr["livenessProbe"]["httpGet"]["port"] == "https-metrics", "probes through the proxy")
    monitor = (one("ServiceMonitor").get("spec", {}).get("endpoints") or [{}])[0]
    check(monitor.get("scheme") == "https" and monitor.get("authorization", {}).get("type") == "Bearer",
          f"ServiceMonitor scrapes the proxy with a token: {monitor}")
else:
    sys.exit(f"unknown case {case}")

for f in failures:
    print(f"chart-assert ({case}): {f}", file=sys.stderr)
if failures:
    sys.exit(1)
print(f"chart-assert ({case}): {len(docs)} objects ok")
