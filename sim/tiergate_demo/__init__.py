"""`tiergate demo`: simulated tiers, the gateway in local mode, and a routed sample workload."""
