"""A cap on request bodies, enforced while they stream in.

A declared Content-Length over the cap is refused before any of the body is
read; a chunked body is counted as it arrives and cut off at the cap, so an
upload never has to fit in memory to be refused. The overflow is raised as
`TooLarge` inside the app, whose handlers answer 413 in the page's or the
API's own form; only if nothing answered does this answer itself.
"""

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from certdesk.errors import TooLarge
from certdesk.web.errors import Problem


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        declared = dict(scope["headers"]).get(b"content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return

        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise TooLarge(self.message())
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    def message(self) -> str:
        limit = self.max_bytes / (1024 * 1024)
        return (
            f"the request is larger than the {limit:g} MiB limit; send fewer or "
            "smaller files, or raise max_upload_mib under [web] in certdesk.toml"
        )

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Imported here: the error pages' module depends on the whole web layer.
        from certdesk.web.failures import answer

        response = answer(Request(scope), Problem(413, self.message()))
        response.headers["Connection"] = "close"
        await response(scope, receive, send)
