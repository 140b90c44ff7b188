"""TierGate's API: the ModelTier and RoutingPolicy resources as pure pydantic models.

Nothing here does I/O; the operator, the gateway and the CRD generator all build on it.
"""

__version__ = "0.1.0"
