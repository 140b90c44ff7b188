{{/*
The gateway reads tiers, policies and the Secrets that hold upstream API keys, and writes one
thing: each policy's spend today, as a merge patch of status.budget.
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
{{- end }}
