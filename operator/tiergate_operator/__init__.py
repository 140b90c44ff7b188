"""The Kopf operator that turns ModelTiers into vLLM workloads and checks RoutingPolicies.

Data flows one way, pure modules first:

    settings   OperatorConfig: one pydantic-settings object, read once by `cli.run`
    names      child names and label values within 63 characters (pure)
    render     ModelTier -> Deployment, Service, cache claim manifests (pure)
    diff       rendered vs live: owned-field differences and the merge patch (pure)
    status     observations -> status, conditions and transition events (pure)
    errors     API failures sorted by what to do about them
    kube       the only module that talks to the API server
    reconcile  one pass of a tier or a policy: render, read, write what differs, report
    workers    one loop per object, woken by watch events, with back-off
    handlers   Kopf wiring: startup, login, indexes, daemons, wake-up handlers
    cli        `tiergate operator`
"""
