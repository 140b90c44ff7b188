{{/*
The operator's permissions, least privilege: what Kopf and the reconciler actually call.
Namespaced rules go into one Role per watched namespace, or into the ClusterRole when every
namespace is watched; cluster-scoped rules always go into the ClusterRole.
*/}}

{{- define "tiergate.operator.peering" -}}
{{- if gt (int .Values.operator.replicas) 1 }}true{{ end }}
{{- end }}

{{- define "tiergate.operator.namespacedRules" -}}
# Our resources: watch them, keep finalizers and Kopf's annotations, write their status.
- apiGroups: [tiergate.io]
  resources: [modeltiers, routingpolicies]
  verbs: [get, list, watch, patch, update]
- apiGroups: [tiergate.io]
  resources: [modeltiers/status, routingpolicies/status]
  verbs: [get, patch, update]
# What a vllm tier owns.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [""]
  resources: [services, persistentvolumeclaims]
  verbs: [get, list, watch, create, update, patch, delete]
# What an autoscaled tier owns where KEDA is installed (the chart installs nothing of KEDA).
- apiGroups: [keda.sh]
  resources: [scaledobjects]
  verbs: [get, list, watch, create, update, patch, delete]
# Read only: whether referenced Secrets and keys exist, and why pods are not ready.
- apiGroups: [""]
  resources: [secrets, pods]
  verbs: [get, list, watch]
# Events on tiers and policies (`kubectl describe`).
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- if include "tiergate.operator.peering" . }}
# Kopf peering between replicas, in namespaced mode.
- apiGroups: [kopf.dev]
  resources: [kopfpeerings]
  verbs: [get, list, watch, patch]
{{- end }}
{{- end }}

{{- define "tiergate.operator.clusterRules" -}}
# Kopf: notice CRDs and namespaces coming and going.
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [list, watch]
{{- if and (include "tiergate.operator.peering" .) (not .Values.watchNamespaces) }}
# Kopf peering between replicas, in cluster-wide mode.
- apiGroups: [kopf.dev]
  resources: [clusterkopfpeerings]
  verbs: [get, list, watch, patch]
{{- end }}
{{- end }}
