{{/*
The gateway reads tiers, policies, the Secrets that hold upstream API keys and the EndpointSlices
of vllm tiers' Services (the ready replicas it spreads requests over), and writes two things:
each policy's spend today, as a merge patch of status.budget, and the replica count of an autoscaled
tier's Deployment, through its scale subresource, only to wake it from 0 to 1 (docs/autoscaling.md).
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
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [deployments/scale]
  verbs: [get, patch, update]
{{- end }}
