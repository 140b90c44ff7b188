"""The closed vocabularies of the API: task types, latency classes, strategies and friends.

Values are CamelCase, as the Kubernetes API conventions ask for enum values; the same
strings appear in the CRD schemas, in headers (`x-tiergate-task`) and in metrics labels.
"""

from __future__ import annotations

from enum import StrEnum


class Task(StrEnum):
    """What a request asks the model to do; decides which model sizes are capable."""

    CLASSIFICATION = "Classification"
    SUMMARIZATION = "Summarization"
    EXTRACTION = "Extraction"
    CODE_GENERATION = "CodeGeneration"
    REASONING = "Reasoning"
    CREATIVE_WRITING = "CreativeWriting"
    CHAT = "Chat"


class LatencyClass(StrEnum):
    """How long a caller is willing to wait; caps the tier size as a soft filter."""

    REALTIME = "Realtime"
    INTERACTIVE = "Interactive"
    BATCH = "Batch"


class Strategy(StrEnum):
    """How a RoutingPolicy ranks the capable tiers."""

    CAPABILITY = "Capability"
    COST = "Cost"
    LATENCY = "Latency"
    HYBRID = "Hybrid"


class Feature(StrEnum):
    """Optional request features a tier must list to be chosen for such a request."""

    STREAMING = "Streaming"
    TOOLS = "Tools"
    JSON_MODE = "JSONMode"
    VISION = "Vision"


class Locality(StrEnum):
    """Where a tier runs: in the cluster (a safe last resort) or behind an external API."""

    LOCAL = "Local"
    REMOTE = "Remote"


class OnBudgetExceeded(StrEnum):
    """What a policy does when no capable tier fits its cost limits."""

    DOWNGRADE = "Downgrade"
    REJECT = "Reject"


class RetryOn(StrEnum):
    """Upstream failures that move a request to the next tier of its plan."""

    SERVER_ERROR = "ServerError"
    RATE_LIMITED = "RateLimited"
    TIMEOUT = "Timeout"
    CONNECTION_ERROR = "ConnectionError"


class ClassifierMode(StrEnum):
    """Whether the gateway may infer the task when the header does not name it."""

    AUTO = "Auto"
    HEADER_ONLY = "HeaderOnly"


class DifficultyRouting(StrEnum):
    """Whether hard requests of a task prefer the upper part of the task's size range."""

    OFF = "Off"
    ROUTE_HARD_UP = "RouteHardUp"


class LowConfidenceAction(StrEnum):
    """What routing does with a task the built-in classifier is unsure of."""

    ROUTE_UP = "RouteUp"
    DEFAULT_TASK = "DefaultTask"
