"""The slice of Kubernetes ObjectMeta that TierGate reads."""

from __future__ import annotations

from pydantic import ConfigDict

from tiergate_api.base import ApiModel, ObjectName


class ObjectMeta(ApiModel):
    """Name, namespace and the identifiers the API server assigns; other keys are ignored."""

    name: ObjectName
    namespace: ObjectName = "default"
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}

    model_config = ConfigDict(extra="ignore")
