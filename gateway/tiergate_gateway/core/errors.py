"""The gateway's error hierarchy, each mapped to an HTTP status and OpenAI's error body.

Code below the HTTP layer raises these; `app.py` turns them into responses in one place,
so no handler builds error JSON by hand and nothing ever answers with a traceback.

Every error says whether retrying can help (`retryable`). The official OpenAI SDKs retry
408, 409, 429 and 5xx by themselves unless the answer carries `x-should-retry: false`, so
an error that retrying cannot fix (a budget that rejects, a malformed body) carries it;
one that time will lift carries `Retry-After` as well (docs/routing.md, "Refusals").
"""

from __future__ import annotations

from typing import Any, ClassVar

SHOULD_RETRY_HEADER = "x-should-retry"


class GatewayError(Exception):
    """An error the client should see, with OpenAI's `type` and `code`."""

    status: ClassVar[int] = 400
    type: ClassVar[str] = "invalid_request_error"
    code: ClassVar[str | None] = None
    retryable: ClassVar[bool] = False
    """Whether the same request may succeed later; False adds `x-should-retry: false`."""

    def __init__(
        self, message: str, *, param: str | None = None, headers: dict[str, str] | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = dict(headers) if headers else {}
        if not self.retryable:
            self.headers[SHOULD_RETRY_HEADER] = "false"
        self.instance_code = code or self.code

    def body(self) -> dict[str, Any]:
        """OpenAI's error body."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.instance_code}}


class InvalidRequestError(GatewayError):
    """The request body or a header is malformed or asks for something impossible."""

    code = "invalid_request"


class ContextTooLongError(InvalidRequestError):
    """Prompt plus max_tokens fits no tier's context window."""

    code = "context_length_exceeded"


class UnsupportedFeatureError(InvalidRequestError):
    """The request needs a feature (tools, JSON mode, images) that no tier it may use offers."""

    code = "unsupported_feature"


class AuthenticationError(GatewayError):
    """No valid gateway key was given."""

    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDeniedError(GatewayError):
    """The key may not use this policy or tier."""

    status = 403
    type = "permission_error"
    code = "forbidden"


class ModelNotFoundError(GatewayError):
    """No policy alias or tier has the requested model name."""

    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class TierNotFoundError(GatewayError):
    """No in-cluster tier has the namespace and name asked about (the scaling endpoint)."""

    status = 404
    type = "invalid_request_error"
    code = "tier_not_found"


class RequestTimeoutError(GatewayError):
    """The request body did not arrive within its time limit (a slow or stalled upload)."""

    status = 408
    code = "request_timeout"
    retryable = True


class PayloadTooLargeError(GatewayError):
    """The body is over the configured limit."""

    status = 413
    code = "payload_too_large"


class BudgetExceededError(GatewayError):
    """A policy with onExceeded Reject has no tier within its budget (retrying the same request cannot help;
    a daily limit says in `Retry-After` when the UTC day, and with it the budget, starts again)."""

    status = 429
    type = "insufficient_quota"
    code = "budget_exceeded"


class OverloadedError(GatewayError):
    """The gateway is at its concurrency cap; retry after the given delay."""

    status = 429
    type = "rate_limit_error"
    code = "gateway_overloaded"
    retryable = True


class TierRateLimitError(GatewayError):
    """Every planned tier is at its own requests- or tokens-per-minute limit; `Retry-After` is the window's end."""

    status = 429
    type = "rate_limit_error"
    code = "tier_rate_limit_exceeded"
    retryable = True


class TierAtCapacityError(GatewayError):
    """Every planned tier has its cap of requests in flight from this gateway."""

    status = 429
    type = "rate_limit_error"
    code = "tier_at_capacity"
    retryable = True


class NoTierAvailableError(GatewayError):
    """Every tier of the plan failed or none could take the request."""

    status = 503
    type = "service_unavailable"
    code = "no_tier_available"
    retryable = True


class NotReadyError(GatewayError):
    """The first snapshot of tiers and policies is not loaded yet."""

    status = 503
    type = "service_unavailable"
    code = "not_ready"
    retryable = True
