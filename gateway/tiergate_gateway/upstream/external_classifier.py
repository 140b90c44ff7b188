"""Asking a team's own classifier service for a request's task (`spec.classifier.external`).

One POST of the client's body, bounded by the policy's timeout; every way it can end becomes an
`ExternalVerdict`, so the caller never handles an exception and the built-in classifier can decide.
Details never hold the URL or the key.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from tiergate_gateway.core.external_verdict import MAX_ANSWER_BYTES, ExternalOutcome, ExternalVerdict, read_answer
from tiergate_gateway.core.views import ExternalClassifierView
from tiergate_gateway.upstream.forward import AttemptFailure, close_response, read_limited
from tiergate_gateway.upstream.transport import InvalidHeaderError, Transport, TransportError, UpstreamResponse


def _headers(service: ExternalClassifierView, policy: str, request_id: str | None) -> dict[str, str]:
    headers = {"content-type": "application/json", "accept": "application/json", "x-tiergate-policy": policy}
    if request_id:
        headers["x-request-id"] = request_id
    if service.api_key is not None:
        headers["authorization"] = f"Bearer {service.api_key.get_secret_value()}"
    return headers


async def ask(
    transport: Transport,
    service: ExternalClassifierView,
    body: bytes,
    *,
    policy: str,
    request_id: str | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> ExternalVerdict:
    """The service's task for `body` (the client's request), or why there is none."""
    if service.problem is not None:
        return ExternalVerdict(ExternalOutcome.SECRET_NOT_FOUND, service.problem)
    started = timer()
    response: UpstreamResponse | None = None

    def verdict(outcome: ExternalOutcome, detail: str) -> ExternalVerdict:
        return ExternalVerdict(outcome, detail, (timer() - started) * 1000)

    try:
        async with asyncio.timeout(service.timeout_seconds):
            response = await transport.post(service.url, body, _headers(service, policy, request_id))
            content = await read_limited(response, MAX_ANSWER_BYTES)
        response.release()
    except TimeoutError:
        close_response(response)
        return verdict(ExternalOutcome.TIMEOUT, f"no answer within {service.timeout_seconds * 1000:g} ms")
    except AttemptFailure as exc:  # the answer was too large
        close_response(response)
        return verdict(ExternalOutcome.INVALID_ANSWER, exc.detail)
    except InvalidHeaderError:
        close_response(response)
        return verdict(ExternalOutcome.CONNECTION_ERROR, "the request headers are invalid (a key with a line break?)")
    except (TransportError, OSError) as exc:
        close_response(response)
        return verdict(ExternalOutcome.CONNECTION_ERROR, f"connection failed ({type(exc).__name__})")
    except BaseException:  # cancelled (the client left): the connection is never leaked
        close_response(response)
        raise
    if response.status != 200:
        return verdict(ExternalOutcome.HTTP_ERROR, f"HTTP {response.status}")
    try:
        task, confidence = read_answer(content)
    except ValueError as exc:
        return verdict(ExternalOutcome.INVALID_ANSWER, str(exc))
    return ExternalVerdict(ExternalOutcome.OK, "", (timer() - started) * 1000, task, confidence)
