{{/*
Names, labels, images and the pieces every pod shares. Names fit 63 characters (the DNS
label limit) with their component suffix intact.
*/}}

{{- define "tiergate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tiergate.fullname" -}}
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

{{/*
"<fullname>-<component>" in at most 63 characters: the fullname is cut, never the component,
so two components of one release never end up with the same name.
Call with (dict "root" $ "component" "gateway").
*/}}
{{- define "tiergate.componentName" -}}
{{- $room := sub 62 (len .component) | int }}
{{- printf "%s-%s" (include "tiergate.fullname" .root | trunc $room | trimSuffix "-") .component }}
{{- end }}

{{- define "tiergate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "tiergate.labels" -}}
helm.sh/chart: {{ include "tiergate.chart" . }}
app.kubernetes.io/name: {{ include "tiergate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tiergate
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of one component's objects. Call with (dict "root" $ "component" "gateway"). */}}
{{- define "tiergate.componentLabels" -}}
{{ include "tiergate.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The immutable selector of one component's pods. */}}
{{- define "tiergate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tiergate.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The TierGate image reference: repository, then @digest or :tag (appVersion by default). */}}
{{- define "tiergate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The simulator image of the examples (ENTRYPOINT `tiergate sim`). */}}
{{- define "tiergate.simImage" -}}
{{- $repository := default (printf "%s-sim" .Values.image.repository) .Values.examples.simImage.repository }}
{{- printf "%s:%s" $repository (default (default .Chart.AppVersion .Values.image.tag) .Values.examples.simImage.tag) }}
{{- end }}

{{- define "tiergate.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "tiergate.componentName" (dict "root" . "component" "operator")) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tiergate.gateway.serviceAccountName" -}}
{{- if .Values.gateway.serviceAccount.create }}
{{- default (include "tiergate.componentName" (dict "root" . "component" "gateway")) .Values.gateway.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.gateway.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tiergate.gateway.authSecretName" -}}
{{- default (include "tiergate.componentName" (dict "root" . "component" "gateway-auth")) .Values.gateway.auth.existingSecret }}
{{- end }}

{{/* Jaeger's Service and the OTLP endpoints pointed at it. */}}
{{- define "tiergate.jaeger.host" -}}
{{- printf "%s.%s.svc" (include "tiergate.componentName" (dict "root" . "component" "jaeger")) .Release.Namespace }}
{{- end }}

{{/* OTLP/HTTP endpoint for the gateway and operator (the Python SDK's exporter speaks HTTP/protobuf). */}}
{{- define "tiergate.otlpEndpoint" -}}
{{- if .Values.tracing.otlpEndpoint }}
{{- .Values.tracing.otlpEndpoint }}
{{- else if .Values.jaeger.enabled }}
{{- printf "http://%s:4318" (include "tiergate.jaeger.host" .) }}
{{- end }}
{{- end }}

{{/* OTLP/gRPC endpoint for vLLM's --otlp-traces-endpoint. */}}
{{- define "tiergate.modelServerOtlpEndpoint" -}}
{{- if .Values.tracing.modelServerOtlpEndpoint }}
{{- .Values.tracing.modelServerOtlpEndpoint }}
{{- else if .Values.jaeger.enabled }}
{{- printf "http://%s:4317" (include "tiergate.jaeger.host" .) }}
{{- end }}
{{- end }}

{{/* The standard OpenTelemetry variables of a TierGate container. (dict "root" $ "service" "tiergate-gateway") */}}
{{- define "tiergate.otelEnv" -}}
{{- $endpoint := include "tiergate.otlpEndpoint" .root }}
- name: OTEL_SERVICE_NAME
  value: {{ .service | quote }}
{{- if $endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $endpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: http/protobuf
- name: OTEL_TRACES_SAMPLER
  value: {{ .root.Values.tracing.sampler | quote }}
{{- with .root.Values.tracing.samplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ . | quote }}
{{- end }}
{{- else }}
- name: OTEL_TRACES_EXPORTER
  value: none
{{- end }}
{{- end }}

{{/* Where KEDA's metrics-api trigger reads a tier's demand: the value, else this release's gateway Service. */}}
{{- define "tiergate.gatewayDemandUrl" -}}
{{- if .Values.tierAutoscaling.gatewayDemandUrl }}
{{- .Values.tierAutoscaling.gatewayDemandUrl | trimSuffix "/" }}
{{- else if .Values.gateway.enabled }}
{{- printf "http://%s.%s.svc:%v" (include "tiergate.componentName" (dict "root" . "component" "gateway")) .Release.Namespace .Values.gateway.service.port }}
{{- end }}
{{- end }}

{{/* Kopf peering name, used when the operator runs more than one replica. */}}
{{- define "tiergate.peeringName" -}}
{{- include "tiergate.componentName" (dict "root" . "component" "operator") }}
{{- end }}

{{/* Pod-level security context: restricted Pod Security Standard. */}}
{{- define "tiergate.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container-level security context: no privileges, nothing written outside the emptyDir volumes. */}}
{{- define "tiergate.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* An integer operator setting as an env entry, only when set. (dict "name" "X" "value" v) */}}
{{- define "tiergate.optionalIntEnv" -}}
{{- if not (kindIs "invalid" .value) }}
- name: {{ .name }}
  value: {{ .value | int64 | toString | quote }}
{{- end }}
{{- end }}
