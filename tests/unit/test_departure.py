"""A departed client cancels the work done for it: through the server's hook, or a watcher task."""

from __future__ import annotations

import asyncio

import pytest

from tiergate_gateway.server.api.departure import DEPARTURE_KEY, ClientGone, DepartureHook, unless_client_leaves


async def _forever() -> str:
    await asyncio.sleep(3600)
    return "never"


async def _quick() -> str:
    await asyncio.sleep(0)
    return "answer"


def test_the_servers_hook_cancels_the_work_when_the_connection_is_lost() -> None:
    hook = DepartureHook()

    async def scenario() -> None:
        async def never_called() -> dict[str, object]:
            raise AssertionError("with a hook, receive() is not watched")

        asyncio.get_running_loop().call_later(0.01, lambda: hook.callback and hook.callback())
        with pytest.raises(ClientGone):
            await unless_client_leaves({DEPARTURE_KEY: hook}, never_called, _forever())
        assert hook.callback is None  # nothing left to call for a request that is over

    asyncio.run(scenario())


def test_without_a_hook_a_watcher_sees_the_disconnect() -> None:
    async def scenario() -> None:
        gone = asyncio.Event()

        async def receive() -> dict[str, object]:
            await gone.wait()
            return {"type": "http.disconnect"}

        asyncio.get_running_loop().call_later(0.01, gone.set)
        with pytest.raises(ClientGone):
            await unless_client_leaves({}, receive, _forever())

    asyncio.run(scenario())


@pytest.mark.parametrize("scope", [{}, {DEPARTURE_KEY: DepartureHook()}])
def test_work_that_ends_first_is_returned_and_a_real_cancel_still_propagates(scope: dict[str, object]) -> None:
    async def receive() -> dict[str, object]:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def scenario() -> None:
        assert await unless_client_leaves(scope, receive, _quick()) == "answer"
        task = asyncio.create_task(unless_client_leaves(scope, receive, _forever()))
        await asyncio.sleep(0.01)
        task.cancel()  # the server shutting down: not the client leaving
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


def test_a_client_gone_before_the_work_begins_gets_none_of_it() -> None:
    hook = DepartureHook()
    hook.left = True
    started = []

    async def work() -> str:
        started.append(True)
        return "generated"

    async def receive() -> dict[str, object]:
        raise AssertionError("not watched")

    with pytest.raises(ClientGone):
        asyncio.run(unless_client_leaves({DEPARTURE_KEY: hook}, receive, work()))
    assert not started
