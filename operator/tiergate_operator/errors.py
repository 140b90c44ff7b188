"""The operator's errors: API failures sorted by what the reconciler should do about them.

`kube.py` maps HTTP statuses and connection failures to these classes at one boundary;
the reconciler then either retries with back-off (`RetryableError`), or records a
condition and waits for the spec or the cluster to change (`ApiError` otherwise).
"""

from __future__ import annotations


class OperatorError(Exception):
    """Base of every error the operator raises on purpose."""


class ApiError(OperatorError):
    """The API server refused or failed a request."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}" if status else f"{reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


class RetryableError(ApiError):
    """A failure that may pass by itself; retried with back-off."""


class TransientApiError(RetryableError):
    """The server is unreachable, overloaded (429) or failing (5xx), or the request timed out."""


class ConflictError(RetryableError):
    """The object changed since it was read (409); read it again and retry."""


class AlreadyExistsError(ConflictError):
    """The object was created by someone else in the meantime (409 AlreadyExists)."""


class NotFoundError(ApiError):
    """The object or its namespace does not exist (404)."""


class InvalidError(ApiError):
    """The server rejected the request as invalid (400, 422); retrying it unchanged cannot help."""


class ForbiddenError(ApiError):
    """The operator lacks the permission (401, 403); fixed by RBAC, not by retrying soon."""
