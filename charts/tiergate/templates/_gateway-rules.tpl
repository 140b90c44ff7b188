{{/*
The gateway reads tiers, policies, the Secrets that hold upstream API keys and the EndpointSlices
of vllm tiers' Services (the ready replicas it spreads requests over), and writes one thing:
each policy's spend today, as a merge patch of status.budget.
*/}}
{{- define "tiergate.gateway.rules" -}}
- apiGroups: [tiergate.io]
  resources: [modeltiers, routingpolicies]
  verbs: [get, list, watch]
- apiGroups: [tiergate.io]
  resources: [routingpolicies/status]
  verbs: [patch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
{{- end }}
