"""Noticing a client that leaves before its answer, so the work done for it stops at once.

Starlette and uvicorn tell an app that its client went away only through `receive()`
returning `http.disconnect`; nothing cancels a handler that is not reading. A client SDK
that times out (or a user that closes the tab) would otherwise leave a non-streaming
generation running to its end on a GPU tier, once per SDK retry.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Final

from starlette.types import Receive, Scope

DEPARTURE_KEY: Final = "tiergate.departure"


class DepartureHook:
    """Put in a request's ASGI scope by the gateway's server protocol (`serverproto.py`), which calls
    `callback` when the connection is lost before the response is complete: no watcher task needed."""

    __slots__ = ("callback", "left")

    def __init__(self) -> None:
        self.callback: Callable[[], None] | None = None
        self.left = False
        """The client is gone already (it may leave before any work starts)."""


class ClientGone(Exception):
    """The client disconnected before its answer was sent."""


async def unless_client_leaves[T](scope: Scope, receive: Receive, work: Awaitable[T]) -> T:
    """Await `work` in this task; if the client disconnects first, cancel it and raise ClientGone.

    Under the gateway's own server protocol the connection tells us (a hook in the scope, free);
    under any other ASGI server a watcher task awaits `receive()` (a few microseconds a request).
    Call it only once the request body has been read: the watcher consumes `receive()`.
    """
    task = asyncio.current_task()
    assert task is not None
    gone = False

    def on_departure() -> None:
        nonlocal gone
        gone = True
        task.cancel()

    hook = scope.get(DEPARTURE_KEY)
    watcher = None
    if isinstance(hook, DepartureHook):
        if hook.left:  # gone before the work began: do none of it
            if inspect.iscoroutine(work):
                work.close()
            raise ClientGone
        hook.callback = on_departure
    else:
        watcher = asyncio.create_task(_watch(receive, on_departure))
    try:
        return await work
    except asyncio.CancelledError:
        if not gone:
            raise
        task.uncancel()
        raise ClientGone from None
    finally:
        if watcher is not None:
            watcher.cancel()
        elif isinstance(hook, DepartureHook):
            hook.callback = None


async def _watch(receive: Receive, on_departure: Callable[[], None]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    on_departure()
