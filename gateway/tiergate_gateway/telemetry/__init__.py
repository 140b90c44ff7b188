"""What the gateway tells the outside: Prometheus metrics, OpenTelemetry spans, logs, the access log.

Below the runtime layer so that live state may count what it does; above the core, whose
decisions it describes. No module here decides anything.
"""
