"""The raw cost of one extra HTTP hop: a pass-through proxy with no routing at all, for reference rows.

Usage: `python bench/hop_proxy.py PORT UPSTREAM_BASE_URL`. aiohttp's server and client on uvloop,
forwarding `POST /v1/chat/completions` bytes as they come (streams included), nothing parsed.
The gateway suite measures it beside TierGate, so "added latency" has a floor to compare with.
"""

from __future__ import annotations

import sys

import aiohttp
import uvloop
from aiohttp import web


async def _forward(request: web.Request) -> web.StreamResponse:
    session: aiohttp.ClientSession = request.app["session"]
    body = await request.read()
    headers = {"content-type": request.headers.get("content-type", "application/json")}
    async with session.post(request.app["upstream"] + "/chat/completions", data=body, headers=headers) as upstream:
        response = web.StreamResponse(
            status=upstream.status, headers={"content-type": upstream.headers.get("content-type", "")}
        )
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
        return response


async def _session(app: web.Application) -> object:
    app["session"] = aiohttp.ClientSession(auto_decompress=False)
    yield
    await app["session"].close()


def main() -> None:
    port, upstream = int(sys.argv[1]), sys.argv[2].rstrip("/")
    app = web.Application()
    app["upstream"] = upstream
    app.cleanup_ctx.append(_session)
    app.router.add_post("/v1/chat/completions", _forward)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
