{{/* Annotations of the example objects: created after the CRDs by a hook, replaced on every upgrade. */}}
{{- define "tiergate.examples.annotations" -}}
helm.sh/hook: post-install,post-upgrade
helm.sh/hook-weight: "0"
helm.sh/hook-delete-policy: before-hook-creation
{{- end }}

{{/*
One example tier run by `tiergate sim` in place of vLLM. The operator passes vLLM's flags as the
container's args; the simulator image's entrypoint (`tiergate sim`) accepts them. --host 0.0.0.0
comes last so the Service and the probes can reach the pod (the simulator binds 127.0.0.1 by default).
(dict "root" $ "name" "sim-small" "pool" "gpu-small" "spec" (dict ...))
*/}}
{{- define "tiergate.examples.tier" -}}
{{- $root := .root }}
apiVersion: tiergate.io/v1alpha1
kind: ModelTier
metadata:
  name: {{ .name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "tiergate.componentLabels" (dict "root" $root "component" "examples") | nindent 4 }}
  annotations:
    {{- include "tiergate.examples.annotations" $root | nindent 4 }}
spec:
  {{- toYaml .spec | nindent 2 }}
  vllm:
    image: {{ include "tiergate.simImage" $root }}
    replicas: 1
    gpu: {count: 0}
    maxModelLen: {{ .maxModelLen }}
    extraArgs: ["--ttft-ms", "{{ .ttftMs }}", "--tokens-per-second", "{{ .tokensPerSecond }}", "--host", "0.0.0.0"]
    resources:
      {{- toYaml $root.Values.examples.resources | nindent 6 }}
    {{- if $root.Values.examples.useNodePools }}
    nodePool:
      nodeSelector: {tiergate.io/pool: {{ .pool }}}
      tolerations:
        - {key: tiergate.io/pool, operator: Equal, value: {{ .pool }}, effect: NoSchedule}
    {{- end }}
{{- end }}
