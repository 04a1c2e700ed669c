{{/*
The controller's Kubernetes permissions, least privilege. Three sets:
- "watchRules": what it needs wherever it watches TenantSyncPolicies (a ClusterRole, or one
  Role per entry of watchNamespaces);
- "releaseRules": what it needs in the release namespace only (leader election, journal);
- "journalKeyRules": the journal's MAC key Secret, in the release namespace only.
*/}}

{{/*
The cloudidentity.dev resources the controller reconciles (plural names). A new kind is one
more entry here: its status subresource is patched (server-side apply); a kind with
`onDelete: Revert` goes in conversionResources too (its finalizer is patched on it).
Exactly the calls the controller makes, no more: tests/rbac.rs records every Kubernetes API
call of the controller's whole life and compares them with these rules, both ways.
*/}}
{{- define "entra-cloud-operator.crdResources" -}}
- tenantsyncpolicies
- clouduserconversions
- cloudgroupconversions
{{- end }}

{{- define "entra-cloud-operator.conversionResources" -}}
- clouduserconversions
- cloudgroupconversions
{{- end }}

{{- define "entra-cloud-operator.watchRules" -}}
{{- $resources := include "entra-cloud-operator.crdResources" . | fromYamlArray -}}
{{- $conversions := include "entra-cloud-operator.conversionResources" . | fromYamlArray -}}
# Tenant policies: watched, and read by the conversions that name them.
- apiGroups: ["cloudidentity.dev"]
  resources: ["tenantsyncpolicies"]
  verbs: ["get", "list", "watch"]
# Conversions: watched, and patched for the revert finalizer.
- apiGroups: ["cloudidentity.dev"]
  resources:
  {{- range $conversions }}
    - {{ . }}
  {{- end }}
  verbs: ["list", "watch", "patch"]
# Status: server-side apply on the status subresource.
- apiGroups: ["cloudidentity.dev"]
  resources:
  {{- range $resources }}
    - {{ . }}/status
  {{- end }}
  verbs: ["patch"]
# Credentials named by spec.credentials.*.secretRef: read one by name, never listed.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
# Events about the resources it reconciles (events.k8s.io/v1); a repeated one is patched
# into a series.
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{- define "entra-cloud-operator.releaseRules" -}}
# Leader election on a Lease (released by a patch on shutdown).
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "patch"]
# The change journal, kept in ConfigMaps: shards listed by label (metadata only) and read
# one at a time by name (a steady pass reads only the last one's metadata), created and
# appended to (never deleted by the operator: an audit trail).
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "create", "update"]
{{- end }}

{{/*
The key of the journal's MAC chain (--journal-key-secret), kept in a Secret of the release
namespace so that whoever may write the journal's ConfigMaps cannot recompute the chain. The
controller creates the Secret on first start and reads it by name.
*/}}
{{- define "entra-cloud-operator.journalKeySecret" -}}
{{- include "entra-cloud-operator.fullname" . }}-journal-key
{{- end }}

{{- define "entra-cloud-operator.journalKeyRules" -}}
# Read the journal key, and keep the journal's chain heads in it (patch), that Secret only.
- apiGroups: [""]
  resources: ["secrets"]
  resourceNames: [{{ include "entra-cloud-operator.journalKeySecret" . | quote }}]
  verbs: ["get", "patch"]
# Create it on first start. Kubernetes cannot restrict `create` to a name (the name is not
# known when RBAC authorises the request), so this allows creating any Secret in the release
# namespace; it allows reading none but the key, and never updating or deleting one.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create"]
{{- end }}
