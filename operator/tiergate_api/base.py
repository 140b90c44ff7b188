"""The base model and strict scalar types every API model uses.

The API server does not coerce types ("5" is not an integer, 1 is not a boolean), so the
scalar aliases here are strict: pydantic then judges a resource as the CRD schema does.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Strict, StringConstraints
from pydantic.alias_generators import to_camel

Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]

# DNS-1123 subdomain: what Kubernetes accepts as an object name.
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
ObjectName = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]


class ApiModel(BaseModel):
    """A part of a TierGate resource: camelCase on the wire, unknown fields rejected.

    Attribute docstrings become field descriptions, and so the CRD's `description`s.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        validate_default=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict with camelCase keys, leaving out unset optional fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
