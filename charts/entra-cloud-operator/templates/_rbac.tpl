{{/*
The controller's Kubernetes permissions, least privilege. Two sets:
- "watchRules": what it needs wherever it watches TenantSyncPolicies (a ClusterRole, or one
  Role per entry of watchNamespaces);
- "releaseRules": what it needs in the release namespace only (leader election, journal).
*/}}

{{/*
The cloudidentity.dev resources the controller reconciles (plural names). A new kind is one
more entry here: it gets get/list/watch/patch, its status subresource and its finalizers.
*/}}
{{- define "entra-cloud-operator.crdResources" -}}
- tenantsyncpolicies
- clouduserconversions
- cloudgroupconversions
{{- end }}

{{- define "entra-cloud-operator.watchRules" -}}
{{- $resources := include "entra-cloud-operator.crdResources" . | fromYamlArray -}}
# The custom resources: watch them and patch metadata (finalizers).
- apiGroups: ["cloudidentity.dev"]
  resources:
  {{- range $resources }}
    - {{ . }}
  {{- end }}
  verbs: ["get", "list", "watch", "patch"]
# Status: server-side apply on the status subresource.
- apiGroups: ["cloudidentity.dev"]
  resources:
  {{- range $resources }}
    - {{ . }}/status
  {{- end }}
  verbs: ["get", "patch", "update"]
# Finalizers: needed where OwnerReferencesPermissionEnforcement is on.
- apiGroups: ["cloudidentity.dev"]
  resources:
  {{- range $resources }}
    - {{ . }}/finalizers
  {{- end }}
  verbs: ["update"]
# Credentials named by spec.credentials.*.secretRef: read only.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
# Events about the resources it reconciles (events.k8s.io/v1).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{- define "entra-cloud-operator.releaseRules" -}}
# Leader election on a Lease.
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "patch", "update"]
# The change journal, kept in ConfigMaps (never deleted by the operator: an audit trail).
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
{{- end }}
