"""The one exception for requests the simulator refuses; the app maps it to OpenAI's error body."""

from __future__ import annotations


class SimRequestError(Exception):
    """A request the simulator refuses, carrying the fields of OpenAI's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        error_type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.error_type = error_type


def bad_request(message: str, param: str | None, code: str | None = None) -> SimRequestError:
    """A 400 `invalid_request_error` about `param`."""
    return SimRequestError(400, message, param=param, code=code)
