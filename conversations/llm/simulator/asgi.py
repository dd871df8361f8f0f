"""Carry the simulator core over the wire: an httpx2 transport (in process) and an ASGI app.

Both stream SSE bodies incrementally and close the body as soon as the consumer goes away, so
the simulator can count the abort and stop producing. Both pass the Content-Type header on
untouched: the Files API needs the multipart boundary in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import httpx2

if TYPE_CHECKING:
    from conversations.llm.simulator.core import Simulator

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def close_body(body: AsyncIterator[bytes]) -> None:
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()


# --- httpx2 transport -----------------------------------------------------------------------


class _ClosingStream(httpx2.AsyncByteStream):
    """A response body that passes `Response.aclose()` on to the simulator's stream.

    httpx2's own AsyncIteratorByteStream ignores aclose(), which would leave an early exit
    from `client.messages.stream(...)` to the garbage collector instead of noticing it at once.
    """

    def __init__(self, body: AsyncIterator[bytes]) -> None:
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._body:
            yield chunk

    async def aclose(self) -> None:
        await close_body(self._body)


def simulator_transport(simulator: Simulator) -> httpx2.AsyncBaseTransport:
    """For `httpx2.AsyncClient(transport=...)`: the SDK talks to the simulator in process."""

    async def handler(request: httpx2.Request) -> httpx2.Response:
        result = await simulator.handle(
            method=request.method,
            path=request.url.path,
            headers=request.headers,
            body=request.content,
        )
        if isinstance(result.body, bytes):
            return httpx2.Response(result.status, headers=result.headers, content=result.body)
        return httpx2.Response(
            result.status, headers=result.headers, stream=_ClosingStream(result.body)
        )

    return httpx2.MockTransport(handler)


# --- ASGI -----------------------------------------------------------------------------------


def simulator_asgi_app(simulator: Simulator) -> ASGIApp:
    """An ASGI 3 app serving the simulator over HTTP (see `manage.py run_simulator`)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "http":
            await _http(simulator, scope, receive, send)

    return app


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _http(simulator: Simulator, scope: Scope, receive: Receive, send: Send) -> None:
    body = await _read_body(receive)
    if body is None:
        return  # the client left before it finished sending the request
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    result = await simulator.handle(
        method=scope["method"], path=scope["path"], headers=headers, body=body
    )
    response_headers = dict(result.headers)
    if isinstance(result.body, bytes):
        response_headers["content-length"] = str(len(result.body))
    raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response_headers.items()]
    await send({"type": "http.response.start", "status": result.status, "headers": raw_headers})
    if isinstance(result.body, bytes):
        await send({"type": "http.response.body", "body": result.body})
    else:
        await _stream_until_disconnect(result.body, receive, send)


async def _read_body(receive: Receive) -> bytes | None:
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


async def _stream_until_disconnect(
    body: AsyncIterator[bytes], receive: Receive, send: Send
) -> None:
    """Send the stream while watching `receive()`: uvicorn's send() silently drops data after a
    disconnect instead of raising, so http.disconnect is the only prompt sign of a closed client.
    """
    pump = asyncio.ensure_future(_pump(body, send))
    watch = asyncio.ensure_future(_wait_for_disconnect(receive))
    try:
        await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pump, watch):
            task.cancel()
        await asyncio.gather(pump, watch, return_exceptions=True)
        await close_body(body)  # counts the abort unless the stream had already finished
    error = None if pump.cancelled() else pump.exception()
    if error is not None:
        raise error  # a bug in the simulator: let the server log it


async def _pump(body: AsyncIterator[bytes], send: Send) -> None:
    async for chunk in body:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
