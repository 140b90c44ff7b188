"""Noticing a client that leaves before its answer, so the work done for it stops at once.

Starlette and uvicorn tell an app that its client went away only through `receive()`
returning `http.disconnect`; nothing cancels a handler that is not reading. A client SDK
that times out (or a user that closes the tab) would otherwise leave a non-streaming
generation running to its end on a GPU tier, once per SDK retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from starlette.types import Receive


class ClientGone(Exception):
    """The client disconnected before its answer was sent."""


async def unless_client_leaves[T](receive: Receive, work: Awaitable[T]) -> T:
    """Await `work` in this task; if the client disconnects first, cancel it and raise ClientGone.

    Call it only once the request body has been read: the watcher consumes `receive()`.
    """
    task = asyncio.current_task()
    assert task is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        while (await receive())["type"] != "http.disconnect":
            pass
        gone = True
        task.cancel()

    watcher = asyncio.create_task(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if not gone:
            raise
        task.uncancel()
        raise ClientGone from None
    finally:
        watcher.cancel()
