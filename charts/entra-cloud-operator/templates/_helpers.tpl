{{/*
Name and label helpers, following `helm create`.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "entra-cloud-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name: fullnameOverride, else <release>-<name>, or just the release name when it
already contains the chart name. Truncated to 63 characters (DNS label limit).
*/}}
{{- define "entra-cloud-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* name-version, as the helm.sh/chart label wants it. */}}
{{- define "entra-cloud-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "entra-cloud-operator.labels" -}}
helm.sh/chart: {{ include "entra-cloud-operator.chart" . }}
{{ include "entra-cloud-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: entra-cloud-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select the controller pods; never change them (Deployment selectors are immutable). */}}
{{- define "entra-cloud-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "entra-cloud-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the pods run as. */}}
{{- define "entra-cloud-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "entra-cloud-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: repository@digest when a digest is set, else repository:tag. */}}
{{- define "entra-cloud-operator.image" -}}
{{- if not .Values.image.repository }}
{{- fail "image.repository is required: no image is published. Build it with `make image IMAGE=<registry>/entra-cloud-operator:<tag>`, push it (`docker push …`) to a registry your cluster pulls from, then install with --set image.repository=<registry>/entra-cloud-operator --set image.tag=<tag>" }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* The leader-election Lease name. */}}
{{- define "entra-cloud-operator.leaseName" -}}
{{- default (include "entra-cloud-operator.fullname" .) .Values.leaseName }}
{{- end }}

{{/* --metrics-addr: bindAddress:port, an IPv6 address in brackets. */}}
{{- define "entra-cloud-operator.metricsAddr" -}}
{{- $bind := .Values.metrics.bindAddress }}
{{- if contains ":" $bind }}
{{- printf "[%s]:%v" $bind .Values.metrics.port }}
{{- else }}
{{- printf "%s:%v" $bind .Values.metrics.port }}
{{- end }}
{{- end }}

{{/* "true" when the metrics endpoint listens on a loopback address (only the pod reaches it). */}}
{{- define "entra-cloud-operator.metricsLoopback" -}}
{{- $bind := .Values.metrics.bindAddress }}
{{- if or (hasPrefix "127." $bind) (eq $bind "::1") }}true{{ end }}
{{- end }}

{{/*
A metrics endpoint on loopback is reachable from inside the pod only: refuse probes and a
Service still aimed at it (they would fail, and the pod would never be Ready).
*/}}
{{- define "entra-cloud-operator.checkMetricsReachable" -}}
{{- if include "entra-cloud-operator.metricsLoopback" . }}
{{- $own := list "http" (toString .Values.metrics.port) }}
{{- range $probe := list "livenessProbe" "readinessProbe" }}
{{- $port := dig "httpGet" "port" "" (index $.Values $probe) | toString }}
{{- if has $port $own }}
{{- fail (printf "%s points at the metrics endpoint, which metrics.bindAddress %s keeps inside the pod: aim it at the authenticating proxy's port (README: Metrics behind an authenticating proxy)" $probe $.Values.metrics.bindAddress) }}
{{- end }}
{{- end }}
{{- if and .Values.service.enabled (has (toString .Values.service.targetPort) $own) }}
{{- fail (printf "service.targetPort %v is the metrics endpoint, which metrics.bindAddress %s keeps inside the pod: set it to the authenticating proxy's port, or service.enabled=false" .Values.service.targetPort .Values.metrics.bindAddress) }}
{{- end }}
{{- end }}
{{- end }}
