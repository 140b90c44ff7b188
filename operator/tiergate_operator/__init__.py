"""The Kopf operator that turns ModelTiers into vLLM workloads and checks RoutingPolicies."""
