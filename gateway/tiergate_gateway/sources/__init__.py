"""Where tiers and policies come from: a folder of YAML files, or the Kubernetes API."""
