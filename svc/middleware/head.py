"""RFC 9110 §9.3.2: HEAD is GET without the body. Every GET route answers it (load balancers probe so)."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        # A copy: the layers outside still see the request as sent (the log line says HEAD).
        await self.app({**scope, "method": "GET"}, receive, send_without_body)
